#!/bin/sh
# node.sh ROOT start|stop|restart|pid|foreground
#
# Starts and stops the node of a mix release installed in ROOT (see
# install-mix.sh) through mix's own ROOT/bin/meter, with the variables
# mix documents: RELEASE_NODE, RELEASE_COOKIE, RELEASE_DISTRIBUTION=name,
# and ERL_EPMD_PORT. What boots is what bin/meter decides: the version in
# releases/start_erl.data (which release_handler:make_permanent/1
# rewrites), its start.boot, sys.config and runtime.exs.
#
# `bin/meter start` execs releases/VSN/elixir, erts-VSN/bin/erl, erlexec
# and beam.smp in turn, so the pid of the process started here is the
# node's; ROOT/tmp/node.pid holds it. ROOT/node.env sets NODE_NAME,
# COOKIE_FILE, ERL_EPMD_PORT and METER_SITE.
set -u
root=$1
cmd=$2
. "$root/node.env"
# Only what node.env says reaches bin/meter: a RELEASE_VSN or ERL_ROOTDIR
# from the caller's environment would pick another release or OTP.
for v in $(env | sed -n 's/^\(RELEASE_[A-Z_]*\)=.*/\1/p') ERL_ROOTDIR ERL_LIBS ERL_AFLAGS ERL_FLAGS \
	ERL_ZFLAGS ELIXIR_ERL_OPTIONS; do
	unset "$v"
done
RELEASE_NODE=$NODE_NAME
RELEASE_COOKIE=$(cat "$COOKIE_FILE")
RELEASE_DISTRIBUTION=name
export RELEASE_NODE RELEASE_COOKIE RELEASE_DISTRIBUTION ERL_EPMD_PORT METER_SITE
pidfile=$root/tmp/node.pid
# A node that fails to boot writes its crash dump inside the target.
export ERL_CRASH_DUMP="$root/log/erl_crash.dump"
log=$root/log/node.log

# running: the pid is alive and not a zombie (a killed node whose parent
# has not reaped it yet still answers kill -0).
running() {
	[ -f "$pidfile" ] || return 1
	state=$(ps -o stat= -p "$(cat "$pidfile")" 2>/dev/null) || return 1
	case $state in Z*) return 1 ;; esac
}

start() {
	running && return 0
	mkdir -p "$root/tmp" "$root/log"
	(exec setsid "$root/bin/meter" start >>"$log" 2>&1 </dev/null) &
	echo $! >"$pidfile"
}

# foreground is for a service manager (systemd's ExecStart): the node is
# this process.
foreground() {
	mkdir -p "$root/tmp" "$root/log"
	echo $$ >"$pidfile"
	exec "$root/bin/meter" start >>"$log" 2>&1 </dev/null
}

# stop asks the node to stop through `bin/meter stop` (an rpc of
# System.stop/0 from a hidden node), sends SIGTERM (which the VM also takes
# as init:stop()) when that has not stopped it within 5 s, and SIGKILL
# after 10 s.
stop() {
	running || return 0
	pid=$(cat "$pidfile")
	"$root/bin/meter" stop >>"$log" 2>&1 </dev/null &
	rpc=$!
	i=0
	while running; do
		i=$((i + 1))
		[ $i -eq 50 ] && kill -TERM "$pid" 2>/dev/null
		[ $i -gt 100 ] && kill -KILL "$pid" 2>/dev/null
		sleep 0.1
	done
	kill -KILL "$rpc" 2>/dev/null
	wait "$rpc" 2>/dev/null
	rm -f "$pidfile"
}

case $cmd in
start) start ;;
stop) stop ;;
restart) stop; start ;;
pid) running && cat "$pidfile" ;;
foreground) foreground ;;
*) echo "usage: node.sh ROOT start|stop|restart|pid|foreground" >&2; exit 2 ;;
esac
