package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// TrialEnv is set in the environment of a beamupd under trial: its journal
// belongs to the beamupd trying it, which holds the device's lock.
const TrialEnv = "BEAMUPD_TRIAL"

// Trial runs a new beamupd the way systemd runs a Type=notify service with
// a watchdog, before it may replace the running one: the new binary gets a
// notify socket of the trial's own, must say READY=1 within StartTimeout,
// and must then keep sending WATCHDOG=1 within Watchdog, without exiting,
// for Period. A binary that exits, never gets ready or hangs is not kept.
//
// The running beamupd supervises the trial because a binary that dies at
// its start cannot put anything back itself.
type Trial struct {
	Args         []string // the arguments the new binary runs with
	Env          []string // its environment, without NOTIFY_SOCKET and WATCHDOG_*
	StartTimeout time.Duration
	Watchdog     time.Duration
	Period       time.Duration
	Stdout       *os.File // where its output goes; nil: discarded
	Log          func(format string, args ...any)
}

// Try runs exe under the trial and tells why it was not kept, or nil.
func (t *Trial) Try(ctx context.Context, exe string) error {
	dir, err := os.MkdirTemp("", "beamupd-trial")
	if err != nil {
		return fmt.Errorf("creating notify socket: %w", err)
	}
	defer os.RemoveAll(dir)
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("creating notify socket: %w", err)
	}
	defer sock.Close()

	cmd := exec.Command(exe, t.Args...)
	cmd.Env = append(t.Env, TrialEnv+"=1", "NOTIFY_SOCKET="+sock.LocalAddr().String(),
		fmt.Sprintf("WATCHDOG_USEC=%d", t.Watchdog.Microseconds()))
	cmd.Stdout, cmd.Stderr = t.Stdout, t.Stdout
	// A trial outlives no beamupd that tries it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", exe, err)
	}
	var waitErr error // read once exited is closed
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	msgs := make(chan string, 16)
	go readNotify(sock, msgs)

	err = t.watch(ctx, cmd.Process.Pid, msgs, exited, func() error { return waitErr })
	if err != nil {
		cmd.Process.Kill()
		<-exited
		return err
	}
	// Kept: stop it the way systemd does, so that it lets go of the
	// broker, the serial port and the node before it runs for real.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	return nil
}

// watch follows the new binary's notifications until the trial passes or
// fails.
func (t *Trial) watch(ctx context.Context, pid int, msgs <-chan string, exited <-chan struct{}, waitErr func() error) error {
	poll := time.NewTicker(min(max(t.Watchdog/10, 10*time.Millisecond), 100*time.Millisecond))
	defer poll.Stop()
	start := time.Now()
	var readyAt, lastPing time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			err := waitErr()
			if readyAt.IsZero() {
				return fmt.Errorf("exited before it was ready (%v)", exitStatus(err))
			}
			return fmt.Errorf("exited during the trial (%v)", exitStatus(err))
		case m := <-msgs:
			now := time.Now()
			for _, line := range strings.Split(m, "\n") {
				switch {
				case line == "READY=1" && readyAt.IsZero():
					readyAt, lastPing = now, now
					t.Log("new beamupd (pid %d) is ready; watching it for %s", pid, t.Period)
				case line == "WATCHDOG=1" && !readyAt.IsZero():
					lastPing = now
				}
			}
		case now := <-poll.C:
			switch {
			case readyAt.IsZero() && now.Sub(start) > t.StartTimeout:
				return fmt.Errorf("not ready within %s", t.StartTimeout)
			case readyAt.IsZero():
			case now.Sub(lastPing) > t.Watchdog:
				return fmt.Errorf("hung: no WATCHDOG=1 for %s", t.Watchdog)
			case now.Sub(readyAt) >= t.Period:
				return nil
			}
		}
	}
}

// readNotify passes on each datagram sent to the notify socket until it
// is closed.
func readNotify(sock *net.UnixConn, msgs chan<- string) {
	buf := make([]byte, 4096)
	for {
		n, err := sock.Read(buf)
		if err != nil {
			return
		}
		select {
		case msgs <- string(buf[:n]):
		default: // a flood is not progress: drop it
		}
	}
}

// exitStatus says how a process ended.
func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
