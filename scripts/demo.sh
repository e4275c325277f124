#!/usr/bin/env bash
# make demo: the story of one device, told in a terminal.
#   install gauge 1.0.0, count pulses, upgrade live to 1.1.0 with the state
#   kept, try the broken 1.2.0 and come back on 1.1.0 by itself.
set -euo pipefail
bin=$(cd "${1:-bin}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/beamup-demo.XXXXXX)
port=$((20000 + RANDOM % 20000))
node=gauge@127.0.0.1
erl_call=$(ls /usr/lib/erlang/lib/erl_interface-*/bin/erl_call | head -1)
export ERL_EPMD_PORT=$port

bold=$(tput bold 2>/dev/null || true) dim=$(tput dim 2>/dev/null || true) off=$(tput sgr0 2>/dev/null || true)
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }
call() { "$erl_call" -name "$node" -c "$(cat "$work/root/cookie")" -a "$*"; echo; }

cleanup() {
	[ -f "$work/root/bin/node.sh" ] && sh "$work/root/bin/node.sh" "$work/root" stop || true
	epmd -kill >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

say "Build the sample release 'gauge' with OTP's own tools (erlc, systools)"
echo "1.0.0 counts pulses in a gen_server whose state is an integer;"
echo "1.1.0 keeps the count in a map (code_change/3 migrates it), changes a library module, adds one;"
echo "1.2.0's code_change crashes: its upgrade is broken on purpose."
escript "$top/testdata/build-releases.escript" "$top/testdata/gauge" "$work/releases" | sed 's/^/  /'

say "A device: gauge 1.0.0 installed in $work/root, its node running"
sh "$top/testdata/target/install.sh" "$work/releases/gauge-1.0.0.tar.gz" "$work/root" "$node" "demo-$RANDOM$RANDOM" "$port"
sh "$work/root/bin/node.sh" "$work/root" start
for _ in $(seq 50); do call 'init get_status' 2>/dev/null | grep -q '{started, started}' && break; sleep 0.2; done

say "The release engineer makes a key and signs bundles"
show "$bin/beamup" keygen -o "$work/release" 2>/dev/null
for v in 1.1.0 1.2.0; do show "$bin/beamup" bundle --key "$work/release.key" --release "$work/releases/gauge-$v.tar.gz" -o "$work/gauge-$v.bundle"; done

cat >"$work/beamupd.toml" <<TOML
[device]
id = "demo-device"
board = "demo"
state_dir = "$work/state"

[trust]
public_keys = ["$work/release.pub"]

[node]
name = "$node"
cookie_file = "$work/root/cookie"
epmd_port = $port
root = "$work/root"
release = "gauge"
control = "exec:sh $work/root/bin/node.sh $work/root restart"

[health]
function = "gauge_health:check"
soak = "2s"
interval = "500ms"
TOML
export BEAMUPD_CONFIG=$work/beamupd.toml

say "The machine counts: three pulses"
for _ in 1 2 3; do call 'gauge_counter pulse' >/dev/null; done
printf 'state of gauge_counter: '; call 'sys get_state [gauge_counter]'
printf 'its pid: '; call 'erlang whereis [gauge_counter]'
printf 'OS pid of the node: '; call 'os getpid'

say "Hot upgrade to 1.1.0 while it runs"
show "$bin/beamupd" install "$work/gauge-1.1.0.bundle" && echo "(exit 0)"
printf 'state of gauge_counter: '; call 'sys get_state [gauge_counter]'
printf 'its pid: '; call 'erlang whereis [gauge_counter]'
printf 'OS pid of the node: '; call 'os getpid'
echo "Same pids, same count, new shape: nothing restarted."

say "Now 1.2.0, whose code_change crashes after the point of no return"
set +e
show "$bin/beamupd" install "$work/gauge-1.2.0.bundle"
code=$?
set -e
echo "(exit $code: failed and reverted)"

say "The device is back on 1.1.0 and healthy"
show "$bin/beamupd" status
printf 'releases: '; call 'release_handler which_releases'
echo "The node was restarted on the permanent release, so the count starts over: state lives"
echo "in memory only, and only a hot path keeps it."
