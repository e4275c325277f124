#!/usr/bin/env bash
# scripts/bench/ab.sh A B: last byte received to committed for two builds
# of beamupd (A and B: directories with beamupd and beamup, as make build
# leaves bin/), a round of each in turn and the order swapped every round,
# so that a change of a few milliseconds shows above this machine's noise
# (one round of the cable moves by +-8 ms with the disk's fsyncs). Each
# round: the sample's 1.0.0 -> 1.1.0 delta over MQTT on loopback and over
# the paced 115200-baud cable, for A and for B, and the bare
# release_handler calls once. ROUNDS rounds (default 10).
set -euo pipefail
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${ROUNDS:-10}
. "$top/scripts/bench/lib.sh"
mport=$((40000 + RANDOM % 20000))

echo "building the releases and the delta..." >&2
escript "$top/testdata/build-releases.escript" "$top/testdata/gauge" "$work/releases" >/dev/null
"$a/beamup" keygen -o "$work/k" >/dev/null 2>&1
"$a/beamup" bundle --key "$work/k.key" --release "$work/releases/gauge-1.1.0.tar.gz" \
	--base "$work/releases/gauge-1.0.0.tar.gz" -o "$work/gauge-1.1.0.delta" >/dev/null
go build -o "$work/serialbench" "$top/scripts/bench/serialbench"
mkdir -p "$work/mosq"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n' "$mport" >"$work/mosq/conf"
[ "$(id -u)" = 0 ] && echo "user root" >>"$work/mosq/conf"
mosquitto -c "$work/mosq/conf" >"$work/mosq/log" 2>&1 &
mpid=$!
sleep 0.5
broker=mqtt://127.0.0.1:$mport

declare -A runs
steps="first verified copying unpacking installing checking committing"
# note NAME LOG: what the log says each step took after the last byte
# ("after the last byte: 3ms to the first step, verified 1.4ms, ..."), in
# milliseconds, into runs[NAME.STEP].
note() {
	local line d
	line=$(grep -o 'after the last byte: .*' "$2" | head -1 | sed 's/: \([0-9.]*[µm]*s\) to the first step/: first \1/')
	for st in $steps; do
		d=$(echo "$line" | grep -o "$st [0-9.]*[µm]*s" | awk '{print $2}' || true)
		case $d in
		*µs) d=$(echo "scale=3; ${d%µs} / 1000" | bc) ;;
		*ms) d=${d%ms} ;;
		*s) d=$(echo "${d%s} * 1000" | bc) ;;
		esac
		runs[$1.$st]+=" $d"
	done
}
# one BUILD NAME: a round of both paths with the build in directory BUILD.
one() {
	bin=$1
	runs[$2.mqtt]+=" $(lastbyte_mqtt "$broker" "ab$RANDOM" "$work/gauge-1.1.0.delta")"
	note "$2.mqtt" "$work/mqtt.log"
	push_cable "$work/gauge-1.1.0.delta" >/dev/null
	runs[$2.cable]+=" $(lastbyte_ms "$work/serial.log")"
	note "$2.cable" "$work/serial.log"
}
for i in $(seq "$rounds"); do
	if ((i % 2)); then one "$a" A; one "$b" B; else one "$b" B; one "$a" A; fi
	runs[bare]+=" $(bare_calls)"
	echo "round $i: MQTT A ${runs[A.mqtt]##* } B ${runs[B.mqtt]##* } ms, cable A ${runs[A.cable]##* } B ${runs[B.cable]##* } ms, bare calls ${runs[bare]##* } ms" >&2
done
med() { tr ' ' '\n' <<<"${runs[$1]}" | grep . | median; }
span() { tr ' ' '\n' <<<"${runs[$1]}" | grep . | sort -n | sed -n '1p;$p' | paste -sd- -; }
printf '\n| last byte to committed, the delta, %d rounds | A: %s | B: %s | B / A |\n|---|---|---|---|\n' "$rounds" "$1" "$2"
for p in mqtt cable; do
	printf '| %s | %.1f ms (%s) | %.1f ms (%s) | %.2f |\n' "$p" "$(med A.$p)" "$(span A.$p)" "$(med B.$p)" "$(span B.$p)" \
		"$(echo "$(med B.$p) / $(med A.$p)" | bc -l)"
done
printf '| the bare calls | %.1f ms (%s) | | |\n' "$(med bare)" "$(span bare)"
# Where the time went: each step's median, as beamupd logged it.
for p in mqtt cable; do
	printf '\n| %s, step by step (median) | A | B | B - A |\n|---|---|---|---|\n' "$p"
	for st in $steps; do
		printf '| %s | %.1f ms | %.1f ms | %+.1f ms |\n' "$st" "$(med A.$p.$st)" "$(med B.$p.$st)" \
			"$(echo "$(med B.$p.$st) - $(med A.$p.$st)" | bc -l)"
	done
done
