#!/bin/sh
# install-rebar3.sh TARBALL ROOT NODE_NAME COOKIE EPMD_PORT
#
# Installs a rebar3 release tarball (`rebar3 tar`, relx's extended start
# script, ERTS included) as a device image would carry it, the way rebar3's
# docs say: unpacked into ROOT, then started with ROOT/bin/tally. The
# tarball brings releases/RELEASES and releases/start_erl.data of its own
# (relx writes both) and bin/tally, a copy of bin/tally-VSN. Besides, ROOT
# gets the cookie, node.env and bin/node.sh (testdata/target/rebar3-node.sh),
# which starts and stops the node through bin/tally.
#
# Nothing is rewritten: relx's bin/tally exports ROOTDIR=ROOT and runs
# ROOT/erts-VSN/bin/erlexec itself, and relx replaces erts-VSN/bin/erl with
# dyn_erl (which finds its root from where it is), so Debian's hard-coded
# ROOTDIR=/usr/lib/erlang (left in erts-VSN/bin/start, which nothing here
# runs) does not matter: code:root_dir() in the node is ROOT.
set -eu
tarball=$1 root=$2 node=$3 cookie=$4 epmd_port=$5
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$root/tmp" "$root/log"
tar xzf "$tarball" -C "$root"
for f in bin/tally releases/RELEASES releases/start_erl.data; do
	[ -f "$root/$f" ] || { echo "install-rebar3.sh: $tarball has no $f" >&2; exit 1; }
done
printf '%s' "$cookie" >"$root/cookie"
chmod 600 "$root/cookie"
printf 'NODE_NAME=%s\nCOOKIE_FILE=%s\nERL_EPMD_PORT=%s\n' "$node" "$root/cookie" "$epmd_port" >"$root/node.env"
cp "$here/rebar3-node.sh" "$root/bin/node.sh"
chmod +x "$root/bin/node.sh"
