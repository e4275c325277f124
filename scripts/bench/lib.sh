# Shared by scripts/bench.sh and scripts/bench/ab.sh, which set top (and
# bin, and broker for lastbyte_mqtt) first. Sourcing it makes the work
# directory, picks the node's ports, and removes both on exit.
work=$(mktemp -d /tmp/beamup-bench.XXXXXX)
port=$((20000 + RANDOM % 20000))
node=gauge@127.0.0.1
export ERL_EPMD_PORT=$port
erl_call=$(ls /usr/lib/erlang/lib/erl_interface-*/bin/erl_call | head -1)
cleanup() {
	[ -f "$work/root/bin/node.sh" ] && sh "$work/root/bin/node.sh" "$work/root" stop || true
	[ -n "${mpid:-}" ] && kill "$mpid" 2>/dev/null || true
	epmd -kill >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
eval_on_node() { "$erl_call" -name "$node" -c "$(cat "$work/root/cookie")" -e; }

# fresh_target: the node of 1.0.0 in a new release root, started, with the
# probe on it, and beamupd.toml for it.
fresh_target() {
	[ -f "$work/root/bin/node.sh" ] && sh "$work/root/bin/node.sh" "$work/root" stop
	rm -rf "$work/root" "$work/state"
	sh "$top/testdata/target/install.sh" "$work/releases/gauge-1.0.0.tar.gz" "$work/root" "$node" "bench$RANDOM" "$port"
	local installed
	installed=$(now)
	sh "$work/root/bin/node.sh" "$work/root" start
	for _ in $(seq 100); do
		echo 'init:get_status().' | eval_on_node 2>/dev/null | grep -Eq '\{started, ?started\}' && break
		sleep 0.1
	done
	cat >"$work/beamupd.toml" <<TOML
[device]
state_dir = "$work/state"
[trust]
public_keys = ["$work/k.pub"]
[node]
name = "$node"
cookie_file = "$work/root/cookie"
epmd_port = $port
root = "$work/root"
release = "gauge"
control = "exec:sh $work/root/bin/node.sh $work/root restart"
[health]
soak = "0s"
TOML
	# The probe: calls gauge_counter every millisecond, keeps the longest call.
	eval_on_node >/dev/null <<'ERL'
P = spawn(fun() ->
    Loop = fun Loop(Max, N, Fails) ->
        receive {report, From} -> From ! {Max, N, Fails}
        after 1 ->
            T0 = erlang:monotonic_time(microsecond),
            R = (catch gauge_counter:value()),
            D = erlang:monotonic_time(microsecond) - T0,
            F = case is_integer(R) of true -> Fails; false -> Fails + 1 end,
            Loop(max(Max, D), N + 1, F)
        end
    end,
    Loop(0, 0, 0)
end),
register(probe, P).
ERL
	sleep 0.3
	# As on a device in the field, the release's files are older than the
	# second within which beamupd's record of their hashes leaves a file
	# out (delta/seen.go).
	local left=$((1200 - ($(now) - installed) / 1000000))
	[ "$left" -gt 0 ] && sleep "$(echo "scale=3; $left / 1000" | bc)"
	return 0
}

# lastbyte_ms: what beamupd said, as it committed, of the time since the
# bundle's last byte had arrived and verified, in milliseconds.
lastbyte_ms() {
	local d
	d=$(sed -n 's/.*committed gauge 1.1.0, \([0-9.]*[µm]*s\) after the last byte.*/\1/p' "$1" | tail -1)
	case $d in
	*µs) echo "scale=3; ${d%µs} / 1000" | bc ;;
	*ms) echo "${d%ms}" ;;
	*s) echo "scale=1; ${d%s} * 1000" | bc ;;
	*) echo "no 'after the last byte' in $1:" >&2; cat "$1" >&2; exit 1 ;;
	esac
}

# lastbyte_mqtt BROKER GROUP BUNDLE: publish BUNDLE to a beamupd run on a
# fresh target and print what it said of the last byte.
lastbyte_mqtt() {
	fresh_target >/dev/null
	{ cat "$work/beamupd.toml"; printf '[mqtt]\nbroker = "%s"\ngroups = ["%s"]\n' "$1" "$2"; } >"$work/mqtt.toml"
	"$bin/beamupd" run --config "$work/mqtt.toml" >"$work/mqtt.log" 2>&1 &
	local pid=$!
	"$bin/beamup" publish --broker "$broker" --key "$work/k.key" --group "$2" "$3" >/dev/null 2>&1
	for _ in $(seq 600); do
		grep -q "after the last byte" "$work/mqtt.log" && break
		sleep 0.1
	done
	kill $pid
	wait $pid 2>/dev/null || true
	lastbyte_ms "$work/mqtt.log"
}

# push_cable BUNDLE: beamup serial push of BUNDLE at 115200 baud through the
# paced relay ($work/serialbench -relay) to a beamupd run on a fresh target;
# prints the push's milliseconds and leaves beamupd's log in
# $work/serial.log.
push_cable() {
	fresh_target >/dev/null
	coproc RELAY { "$work/serialbench" -relay; }
	local devend lapend spid t0 t1 out
	read -r devend lapend <&"${RELAY[0]}"
	{ cat "$work/beamupd.toml"; printf '[serial]\nport = "%s"\nbaud = 115200\n' "$devend"; } >"$work/serial.toml"
	"$bin/beamupd" run --config "$work/serial.toml" >"$work/serial.log" 2>&1 &
	spid=$!
	sleep 1
	t0=$(now)
	out=$("$bin/beamup" serial --port "$lapend" push "$1" 2>&1 || true)
	t1=$(now)
	kill $spid
	wait $spid 2>/dev/null || true
	eval "exec ${RELAY[1]}>&-"
	wait "$RELAY_PID" 2>/dev/null || true
	echo "$out" | grep -q "committed: gauge" || { echo "the push did not commit: $out" >&2; cat "$work/serial.log" >&2; exit 1; }
	ms "$t0" "$t1"
}

# bare_calls: the bare release_handler calls that take 1.1.0, already
# unpacked, to permanent on a fresh target, in milliseconds.
bare_calls() {
	fresh_target >/dev/null
	escript "$top/scripts/bench/unpacked.escript" "$node" "$(cat "$work/root/cookie")" "$work/root" \
		"$work/releases/gauge-1.1.0.tar.gz" gauge 1.1.0
}
