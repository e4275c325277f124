#!/bin/sh
# build.sh OUT
#
# Builds the sample Elixir release "meter" in every version with Debian's
# elixir and `MIX_ENV=prod mix release` (include_erts, the :tar step), the
# way a user of mix builds one: OUT/meter-1.0.0.tar.gz,
# OUT/meter-1.1.0.tar.gz and OUT/meter-1.2.0.tar.gz. 1.1.0's release step
# (mix.exs) adds the appup written by hand and a relup from 1.0.0 made by
# systools:make_relup. 1.2.0 is a plain release with neither appup nor
# relup, as most mix users ship: it installs by restarting the node.
#
# It builds in a temporary copy of the sources (never in testdata), with
# HOME, MIX_HOME and the rest in temporary directories, offline: the
# project has no dependencies and nothing is fetched.
set -eu
[ $# -eq 1 ] || { echo "usage: build.sh OUT" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/meter-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/home" "$tmp/xdg/config" "$tmp/xdg/data" "$tmp/xdg/cache"
# Nothing from the caller's environment decides what mix does.
unset MIX_BUILD_PATH MIX_BUILD_ROOT MIX_DEPS_PATH MIX_EXS MIX_LOCKFILE MIX_TARGET \
	MIX_PATH MIX_QUIET ELIXIR_ERL_OPTIONS ERL_AFLAGS ERL_FLAGS ERL_ZFLAGS ERL_LIBS \
	RELEASE_ROOT RELEASE_NAME RELEASE_VSN RELEASE_COOKIE RELEASE_NODE 2>/dev/null || true
export HOME="$tmp/home" MIX_HOME="$tmp/home/mix" MIX_ARCHIVES="$tmp/home/mix/archives" \
	HEX_HOME="$tmp/home/hex" HEX_OFFLINE=1 \
	XDG_CONFIG_HOME="$tmp/xdg/config" XDG_DATA_HOME="$tmp/xdg/data" XDG_CACHE_HOME="$tmp/xdg/cache" \
	MIX_ENV=prod

# release VSN: builds src/VSN in tmp/VSN; its release is tmp/VSN/_build/prod/rel/meter.
release() {
	cp -R "$src/$1" "$tmp/$1"
	(cd "$tmp/$1" && mix release --quiet </dev/null) >"$tmp/$1.log" 2>&1 || {
		echo "build.sh: mix release of meter $1 failed:" >&2
		cat "$tmp/$1.log" >&2
		exit 1
	}
	cp "$tmp/$1/_build/prod/meter-$1.tar.gz" "$out/meter-$1.tar.gz"
}

# check VSN PATTERN...: the tarball of VSN has an entry matching each pattern.
# A pattern that starts with ! must match no entry.
check() {
	vsn=$1
	shift
	tar tzf "$out/meter-$vsn.tar.gz" >"$tmp/list"
	for p in "$@"; do
		case $p in
		!*)
			! grep -q "^\(\./\)\{0,1\}${p#!}" "$tmp/list" || {
				echo "build.sh: meter-$vsn.tar.gz has ${p#!}" >&2
				exit 1
			}
			;;
		*)
			grep -q "^\(\./\)\{0,1\}$p" "$tmp/list" || {
				echo "build.sh: meter-$vsn.tar.gz has no $p" >&2
				exit 1
			}
			;;
		esac
	done
}

release 1.0.0
METER_UPGRADE_FROM="$tmp/1.0.0/_build/prod/rel/meter" release 1.1.0
release 1.2.0
check 1.0.0 releases/1.0.0/meter.rel erts-[0-9.]*/bin/beam.smp releases/1.0.0/consolidated/Elixir.String.Chars.beam \
	releases/1.0.0/runtime.exs lib/meter-1.0.0/ebin/meter.app
check 1.1.0 releases/1.1.0/meter.rel erts-[0-9.]*/bin/beam.smp releases/1.1.0/consolidated/Elixir.String.Chars.beam \
	releases/1.1.0/runtime.exs releases/1.1.0/relup lib/meter-1.1.0/ebin/meter.appup \
	lib/meter-1.1.0/ebin/Elixir.String.Chars.Meter.Reading.beam
check 1.2.0 releases/1.2.0/meter.rel erts-[0-9.]*/bin/beam.smp releases/1.2.0/consolidated/Elixir.String.Chars.beam \
	releases/1.2.0/runtime.exs lib/meter-1.2.0/ebin/meter.app lib/meter-1.2.0/ebin/Elixir.String.Chars.Meter.Reading.beam \
	'!releases/1.2.0/relup' '!lib/meter-1.2.0/ebin/meter.appup'
