#!/bin/sh
# install.sh TARBALL ROOT NODE_NAME COOKIE EPMD_PORT
#
# Installs a release tarball as a target system in ROOT, the way a device
# image would carry it: the release unpacked, releases/start_erl.data, the
# cookie, and bin/node.sh to start and stop the node. Like a mix release it
# ships no releases/RELEASES: beamupd prepares that itself.
set -eu
tarball=$1 root=$2 node=$3 cookie=$4 epmd_port=$5
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$root/bin" "$root/tmp" "$root/log"
tar xzf "$tarball" -C "$root"
erts=$(cd "$root" && ls -d erts-* | sed 's/^erts-//')
vsn=$(cd "$root/releases" && ls -d */ | sed 's,/$,,' | head -1)
printf '%s %s' "$erts" "$vsn" >"$root/releases/start_erl.data"
printf '%s' "$cookie" >"$root/cookie"
chmod 600 "$root/cookie"
printf 'NODE_NAME=%s\nCOOKIE_FILE=%s\nERL_EPMD_PORT=%s\n' "$node" "$root/cookie" "$epmd_port" >"$root/node.env"
cp "$here/../../rehearse/node.sh" "$root/bin/node.sh"
chmod +x "$root/bin/node.sh"
