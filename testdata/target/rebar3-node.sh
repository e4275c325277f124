#!/bin/sh
# node.sh ROOT start|stop|restart|pid|foreground
#
# Starts and stops the BEAM node of a rebar3 (relx) release installed in
# ROOT through relx's own extended start script, ROOT/bin/tally, as a
# device's init script would: `bin/tally daemon` to start, `bin/tally
# foreground` under a service manager, `bin/tally stop` to stop. Which
# release boots is therefore decided by bin/tally exactly as on a device:
# relx's script boots the version written in its own REL_VSN line (and the
# ERTS of its ERTS_VSN line); it reads neither releases/start_erl.data nor
# releases/RELEASES.
#
# ROOT/node.env sets NODE_NAME, COOKIE_FILE and ERL_EPMD_PORT. relx writes
# releases/VSN/vm.args from vm.args.src, replacing ${NODE_NAME} and
# ${COOKIE} with the environment, at every start. ROOT/tmp/node.pid is the
# OS pid of beam.smp; bin/tally's output goes to ROOT/log/node.log, the
# node's own output (run_erl's log) to ROOT/log/erlang.log.1.
set -u
root=$1
cmd=$2
. "$root/node.env"
COOKIE=$(cat "$COOKIE_FILE")
export NODE_NAME COOKIE ERL_EPMD_PORT
# run_erl's pipes belong inside the target, not in /tmp/erl_pipes.
export PIPE_DIR="$root/tmp/pipe/"
export RUNNER_LOG_DIR="$root/log"
# Every remote call bin/tally makes (erl_call) gives up after this long.
export RELX_RPC_TIMEOUT=10
pidfile=$root/tmp/node.pid
# A node that fails to boot writes its crash dump inside the target.
export ERL_CRASH_DUMP="$root/log/erl_crash.dump"
log=$root/log/node.log
tally=$root/bin/tally
mkdir -p "$root/tmp" "$root/log"

# running: the pid is alive and not a zombie (a killed node whose parent
# has not reaped it yet still answers kill -0).
running() {
	[ -f "$pidfile" ] || return 1
	state=$(ps -o stat= -p "$(cat "$pidfile")" 2>/dev/null) || return 1
	case $state in Z*) return 1 ;; esac
}

# bounded CMD...: runs CMD in the background, waits up to $limit tenths of
# a second, and kills it if it has not finished; returns its status, or 124.
bounded() {
	"$@" >>"$log" 2>&1 </dev/null &
	job=$!
	i=0
	while kill -0 "$job" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt "$limit" ]; then
			kill -KILL "$job" 2>/dev/null
			wait "$job" 2>/dev/null
			return 124
		fi
		sleep 0.1
	done
	wait "$job"
}

start() {
	running && return 0
	rm -f "$pidfile"
	echo "node.sh: $tally daemon ($(date '+%F %T'))" >>"$log"
	# relx's daemon waits, without a limit, until the node answers.
	limit=600
	if ! bounded setsid "$tally" daemon; then
		echo "node.sh: $tally daemon failed or did not see the node come up; the node's log:" >&2
		tail -n 40 "$root/log/erlang.log.1" >&2 2>/dev/null
		return 1
	fi
	# bin/tally pid asks the node for os:getpid() (erl_call, bounded by
	# RELX_RPC_TIMEOUT).
	pid=$("$tally" pid 2>>"$log")
	case $pid in
	'' | *[!0-9]*)
		echo "node.sh: $tally pid said '$pid'" >&2
		return 1
		;;
	esac
	echo "$pid" >"$pidfile"
}

# foreground is for a service manager (systemd's ExecStart): the node is
# this process (bin/tally and erlexec exec, so beam.smp keeps this pid).
foreground() {
	echo $$ >"$pidfile"
	exec "$tally" foreground
}

# stop asks bin/tally to stop the node and waits for the OS process to end;
# bin/tally stop waits for ever when the node does not go (it polls the pid
# it asked for), so after 10 s the node is killed.
stop() {
	running || return 0
	pid=$(cat "$pidfile")
	echo "node.sh: $tally stop ($(date '+%F %T'))" >>"$log"
	"$tally" stop >>"$log" 2>&1 </dev/null &
	job=$!
	i=0
	while running; do
		i=$((i + 1))
		if [ $i -eq 100 ]; then
			echo "node.sh: the node (pid $pid) did not stop within 10 s of $tally stop; killing it" >>"$log"
			kill -KILL "$pid" 2>/dev/null
		fi
		sleep 0.1
	done
	# bin/tally stop ends by itself once the node is gone (within its
	# RELX_RPC_TIMEOUT); do not leave it behind.
	i=0
	while kill -0 "$job" 2>/dev/null && [ $i -lt 20 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	kill -KILL "$job" 2>/dev/null
	wait "$job" 2>/dev/null
	rm -f "$pidfile"
}

case $cmd in
start) start ;;
stop) stop ;;
restart) stop && start ;;
pid) running && cat "$pidfile" ;;
foreground) foreground ;;
*)
	echo "usage: node.sh ROOT start|stop|restart|pid|foreground" >&2
	exit 2
	;;
esac
