#!/bin/sh
# node.sh ROOT start|stop|restart|pid|foreground
#
# Starts and stops the BEAM node of a target system installed in ROOT, the
# way a device's init script would. It boots the release that
# releases/start_erl.data names, which release_handler:make_permanent/1
# rewrites: a restart therefore always comes back on the permanent release.
# ROOT/node.env sets NODE_NAME, COOKIE_FILE and ERL_EPMD_PORT.
set -u
root=$1
cmd=$2
. "$root/node.env"
export ERL_EPMD_PORT
pidfile=$root/tmp/node.pid
# A node that fails to boot writes its crash dump inside the target.
export ERL_CRASH_DUMP="$root/log/erl_crash.dump"

# running: the pid is alive and not a zombie (a killed node whose parent
# has not reaped it yet still answers kill -0).
running() {
	[ -f "$pidfile" ] || return 1
	state=$(ps -o stat= -p "$(cat "$pidfile")" 2>/dev/null) || return 1
	case $state in Z*) return 1 ;; esac
}

# erl runs the node's emulator in place of this shell, under the command
# given as $1 (setsid, or nothing).
erl() {
	# start_erl.data has no trailing newline after make_permanent: read
	# returns 1 although it read both fields.
	read -r erts_vsn rel_vsn <"$root/releases/start_erl.data" || true
	bindir=$root/erts-$erts_vsn/bin
	mkdir -p "$root/tmp" "$root/log"
	ROOTDIR=$root BINDIR=$bindir EMU=beam PROGNAME=erl \
	exec $1 "$bindir/erlexec" -boot "$root/releases/$rel_vsn/start" \
		-config "$root/releases/$rel_vsn/sys" -mode embedded \
		-name "$NODE_NAME" -setcookie "$(cat "$COOKIE_FILE")" \
		-noshell -noinput \
		-sasl releases_dir "\"$root/releases\"" \
		>>"$root/log/node.log" 2>&1 </dev/null
}

start() {
	running && return 0
	(erl setsid) &
	echo $! >"$pidfile"
}

# foreground is for a service manager (systemd's ExecStart): the node is
# this process.
foreground() {
	mkdir -p "$root/tmp"
	echo $$ >"$pidfile"
	erl ""
}

stop() {
	running || return 0
	pid=$(cat "$pidfile")
	kill -TERM "$pid" 2>/dev/null
	i=0
	while running; do
		i=$((i + 1))
		[ $i -gt 100 ] && kill -KILL "$pid" 2>/dev/null
		sleep 0.1
	done
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
