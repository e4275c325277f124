//go:build faultinject

package main

import (
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/beamup/beamup/daemon"
)

// fault makes a test build of beamupd misbehave on purpose, for the tests
// of the watchdog and of self-update. It is set with
// -tags faultinject -ldflags "-X main.fault=...":
//
//	exit          exit with status 3 as the daemon starts
//	hang          block the main loop once it has said READY
//	hang-on-usr1  block the main loop when SIGUSR1 arrives
//	failpoints    nothing more than the kill points of internal/failpoint,
//	              which any faultinject build has
var fault string

func injectFault(cfg *daemon.Config) {
	var stalled atomic.Bool
	switch fault {
	case "", "failpoints":
		return
	case "exit":
		os.Exit(3)
	case "hang":
		cfg.Notify = readyThen{cfg.Notify, &stalled}
	case "hang-on-usr1":
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() { <-usr1; stalled.Store(true) }()
	}
	cfg.Stall = func() {
		if stalled.Load() {
			cfg.Log("fault injected: the main loop blocks")
			select {}
		}
	}
}

// readyThen stalls the loop once READY has been said.
type readyThen struct {
	daemon.Notifier
	stalled *atomic.Bool
}

func (r readyThen) Ready(status string) {
	r.Notifier.Ready(status)
	r.stalled.Store(true)
}
