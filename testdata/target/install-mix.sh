#!/bin/sh
# install-mix.sh TARBALL ROOT NODE_NAME COOKIE EPMD_PORT
#
# Installs a `mix release` tarball (include_erts, the :tar step) as a
# target system in ROOT, the way a device image would carry it: the
# tarball unpacked as it is (mix's bin/meter, releases/start_erl.data,
# releases/VSN/{sys.config,runtime.exs,consolidated}), the cookie,
# node.env, and bin/node.sh to start and stop the node through mix's own
# bin/meter. Like every mix release it ships no releases/RELEASES: beamupd
# prepares that itself.
#
# Nothing of the release needs fixing: mix writes its own erts-VSN/bin/erl,
# which takes ROOTDIR from where it lies (unless ERL_ROOTDIR is set, which
# node.sh unsets), so code:root_dir() is ROOT; the releases/VSN/elixir
# script names erts-VSN/bin relative to itself. Debian's hard-coded
# ROOTDIR=/usr/lib/erlang stays in erts-VSN/bin/start and start_erl, which
# mix's scripts never run.
set -eu
tarball=$1 root=$2 node=$3 cookie=$4 epmd_port=$5
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$root/bin" "$root/tmp" "$root/log"
tar xzf "$tarball" -C "$root"
[ -x "$root/bin/meter" ] || { echo "install-mix.sh: $tarball has no bin/meter" >&2; exit 1; }
[ -f "$root/releases/start_erl.data" ] || { echo "install-mix.sh: $tarball has no releases/start_erl.data" >&2; exit 1; }
printf '%s' "$cookie" >"$root/cookie"
chmod 600 "$root/cookie"
# METER_SITE is what the sample's config/runtime.exs reads at boot.
printf 'NODE_NAME=%s\nCOOKIE_FILE=%s\nERL_EPMD_PORT=%s\nMETER_SITE=%s\n' \
	"$node" "$root/cookie" "$epmd_port" "site-of-$node" >"$root/node.env"
cp "$here/mix-node.sh" "$root/bin/node.sh"
chmod +x "$root/bin/node.sh"
