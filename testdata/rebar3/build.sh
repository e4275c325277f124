#!/bin/sh
# build.sh OUT
#
# Builds the sample release "tally" with rebar3 the way rebar3's docs say,
# in version order, into OUT/tally-VSN.tar.gz: for each version the common
# sources (common/) and the version's own (VSN/) go into one project
# directory, then `rebar3 release`, `rebar3 relup` from the version before
# (which needs that release in the same _build/default/rel/tally) and
# `rebar3 tar`. Nothing is written into testdata, nothing into the user's
# home, and nothing is fetched (the project has no dependencies).
set -eu
[ $# -eq 1 ] || { echo "usage: build.sh OUT" >&2; exit 2; }
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tally-rebar3.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/cache" "$work/config" "$work/project"
export HOME="$work/home" REBAR_CACHE_DIR="$work/cache" REBAR_GLOBAL_CONFIG_DIR="$work/config"
export REBAR_OFFLINE=1 REBAR_COLOR=none QUIET=1
unset REBAR_CONFIG ERL_FLAGS ERL_AFLAGS ERL_ZFLAGS ERL_LIBS
proj=$work/project

prev=
for vsn in 1.0.0 1.1.0 1.2.0; do
	# A fresh copy of the sources each time; _build (with the releases
	# built so far) stays, but not the application compiled from the
	# version before, so nothing of it leaks into this one.
	find "$proj" -mindepth 1 -maxdepth 1 ! -name _build -exec rm -rf {} +
	rm -rf "$proj/_build/default/lib/tally"
	cp -R "$src/common/." "$src/$vsn/." "$proj/"
	if [ -z "$prev" ]; then
		relup=
	else
		# rebar3 takes the appup from the application's ebin/.
		relup=", relup --relname tally --relvsn $vsn --upfrom $prev"
	fi
	if ! (cd "$proj" && rebar3 do release$relup, tar --relname tally --relvsn "$vsn") >"$work/rebar3.log" 2>&1; then
		cat "$work/rebar3.log" >&2
		echo "build.sh: rebar3 failed for tally $vsn" >&2
		exit 1
	fi
	tarball=$proj/_build/default/rel/tally/tally-$vsn.tar.gz
	listing=$(tar tzf "$tarball")
	want="releases/$vsn/tally.rel bin/tally bin/tally-$vsn"
	[ -n "$prev" ] && want="$want releases/$vsn/relup"
	for f in $want; do
		printf '%s\n' "$listing" | grep -qx "$f" || {
			echo "build.sh: tally-$vsn.tar.gz has no $f" >&2
			exit 1
		}
	done
	printf '%s\n' "$listing" | grep -q '^erts-[0-9.]*/bin/beam.smp$' || {
		echo "build.sh: tally-$vsn.tar.gz has no erts-*" >&2
		exit 1
	}
	cp "$tarball" "$out/tally-$vsn.tar.gz"
	echo "built tally-$vsn.tar.gz"
	prev=$vsn
done
