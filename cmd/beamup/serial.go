package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/transport/serial"
	"github.com/beamup/beamup/updater"
)

func serialCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup serial", flag.ContinueOnError)
	port := fs.String("port", "", "serial device, such as /dev/ttyUSB0")
	baud := fs.Int("baud", 115200, "baud rate (8N1)")
	return &ffcli.Command{
		Name:       "serial",
		ShortUsage: "beamup serial --port DEV [--baud N] (status | push BUNDLE | rollback | log)",
		ShortHelp:  "talk to one device over a serial cable",
		LongHelp:   "push and rollback exit like beamupd install: 0 committed, 10 rejected or not received,\n11 reverted, 12 needs attention, 2 busy or usage.",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if *port == "" || len(args) == 0 {
				return cli.Usage("serial needs --port and one of status, push BUNDLE, rollback, log")
			}
			p, err := serial.Open(*port, *baud)
			if err != nil {
				return err
			}
			defer p.Close()
			s, err := serial.Attach(ctx, p)
			if err != nil {
				return err
			}
			show := func(l string) { fmt.Fprintln(stdout, l) }
			switch {
			case args[0] == "status" && len(args) == 1, args[0] == "log" && len(args) == 1:
				_, err := s.Command(ctx, args[0], 10*time.Second, show)
				return err
			case args[0] == "rollback" && len(args) == 1:
				lines, err := s.Command(ctx, "rollback", 10*time.Minute, show)
				if err != nil {
					return err
				}
				return outcomeExit(lines)
			case args[0] == "push" && len(args) == 2:
				return push(ctx, s, args[1], stdout, stderr)
			}
			return cli.Usage("unknown serial command %q", strings.Join(args, " "))
		},
	}
}

func push(ctx context.Context, s *serial.Session, path string, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var progress func(done, total int64)
	if w, ok := stderr.(*os.File); ok && term.IsTerminal(int(w.Fd())) {
		bar := progressbar.NewOptions64(st.Size(), progressbar.OptionSetWriter(stderr),
			progressbar.OptionShowBytes(true), progressbar.OptionSetDescription("sending"),
			progressbar.OptionClearOnFinish())
		progress = func(done, _ int64) { bar.Set64(done) }
	}
	lines, err := s.Push(ctx, serial.File{Name: filepath.Base(path), Size: st.Size()}, f, progress,
		func(l string) { fmt.Fprintln(stdout, l) })
	if err != nil {
		return cli.Exit(10, fmt.Errorf("%w; nothing was installed", err))
	}
	if v, ok := stagedAgent(lines); ok {
		fmt.Fprintf(stderr, "the device tries beamupd %s before it hands over to it; waiting for the outcome\n", v)
		return awaitAgent(ctx, s, v, stdout)
	}
	return outcomeExit(lines)
}

// stagedAgent finds the line with which the device says it took a new
// beamupd to try ("staged: beamupd 2.0.0 verified; ...").
func stagedAgent(lines []string) (version string, ok bool) {
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, string(updater.Staged)+": beamupd "); ok {
			return strings.Fields(rest)[0], true
		}
	}
	return "", false
}

// awaitAgent asks the console for the device's status until the
// self-update to version has ended. While the new beamupd is tried, and
// while it takes over, the console is away for a moment.
func awaitAgent(ctx context.Context, s *serial.Session, version string, stdout io.Writer) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		lines, err := s.Command(ctx, "status", 5*time.Second, nil)
		if err != nil {
			continue
		}
		for _, l := range lines {
			var st updater.Status
			if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &st) != nil {
				continue
			}
			if r := st.LastResult; r != nil && r.Version == version && r.Outcome != updater.Staged {
				line := fmt.Sprintf("%s: %s", r.Outcome, r.Reason)
				fmt.Fprintln(stdout, line)
				if code := r.Outcome.ExitCode(); code != 0 {
					return cli.Exit(code, errors.New(line))
				}
				return nil
			}
		}
	}
	return cli.Exit(12, fmt.Errorf("no outcome of the self-update to beamupd %s within 10 minutes", version))
}

// outcomeExit turns the device's outcome line into beamupd's exit code.
func outcomeExit(lines []string) error {
	if o, reason, ok := serial.Outcome(lines); ok {
		if code := o.ExitCode(); code != 0 {
			return cli.Exit(code, fmt.Errorf("%s: %s", o, reason))
		}
		return nil
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "busy:") {
			return cli.Exit(2, fmt.Errorf("%s", l))
		}
		if strings.HasPrefix(l, "receive failed:") {
			return cli.Exit(10, fmt.Errorf("%s", l))
		}
	}
	return cli.Exit(12, fmt.Errorf("the device printed no outcome: %q", strings.Join(lines, " / ")))
}
