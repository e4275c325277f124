#!/usr/bin/env bash
# setup-os.sh [PACKAGE...]
#
# Installs the OS packages beamup's build, tests, demo and benchmarks need,
# or the packages named. Idempotent: it installs only what is missing, so
# `make test` and `make demo` can call it every time.
set -euo pipefail

pkgs=(erlang-nox erlang-dev elixir rebar3 mosquitto mosquitto-clients lrzsz socat minisign systemd dbus dbus-user-session procps python3 time bc)
[ $# -gt 0 ] && pkgs=("$@")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "setup-os: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Tests start their own mosquitto on free ports; none is needed on 1883.
