package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
)

// script writes a shell script that plays a new beamupd.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "beamupd")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The trial judges a new binary by what it tells its notify socket, the
// way systemd does; socat (or the shell's own tools) cannot send
// datagrams, so the scripts use python3 for sd_notify.
func TestTrial(t *testing.T) {
	otptest.Require(t, "python3")
	notify := `python3 -c 'import os,socket,sys; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.sendto(sys.argv[1].encode(), os.environ["NOTIFY_SOCKET"])' `
	cases := map[string]struct {
		body string
		want string // "" when kept
	}{
		"good":        {notify + "READY=1\nwhile :; do " + notify + "WATCHDOG=1; sleep 0.1; done\n", ""},
		"exits":       {"exit 3\n", "exited before it was ready (exit status 3)"},
		"never ready": {"sleep 30\n", "not ready within"},
		"hangs":       {notify + "READY=1\nsleep 30\n", "hung: no WATCHDOG=1"},
		"dies later":  {notify + "READY=1\n" + notify + "WATCHDOG=1\nexit 4\n", "exited during the trial (exit status 4)"},
	}
	// Every script is written before any trial forks: a child forked while
	// a sibling still had its script open for writing holds that file
	// open, and executing it then fails with "text file busy".
	scripts := map[string]string{}
	for name, c := range cases {
		scripts[name] = script(t, c.body)
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := &Trial{Env: os.Environ(), StartTimeout: 2 * time.Second, Watchdog: 500 * time.Millisecond,
				Period: 1500 * time.Millisecond, Log: t.Logf}
			err := tr.Try(context.Background(), scripts[name])
			switch {
			case c.want == "" && err != nil:
				t.Errorf("not kept: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}
