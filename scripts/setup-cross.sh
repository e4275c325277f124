#!/usr/bin/env bash
# Installs what make cross and make test-cross need besides Go: qemu-user
# (static) to run arm64 and armv7 test binaries, and file to check that
# the builds are static. Idempotent.
set -euo pipefail
missing=()
for p in qemu-user-static file; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "setup-cross: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
