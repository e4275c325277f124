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
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/transport/serial"
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
	if r, ok := serial.ReplyOf(lines); ok && r.Outcome == report.Staged {
		fmt.Fprintf(stderr, "the device tries beamupd %s before it hands over to it; waiting for the outcome\n", r.Version)
		return awaitAgent(ctx, s, r.Version, stdout)
	}
	return outcomeExit(lines)
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
			var st report.Status
			if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &st) != nil {
				continue
			}
			if r := st.LastResult; r != nil && r.Version == version && r.Outcome != report.Staged {
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

// outcomeExit turns the device's reply into beamup's exit code.
func outcomeExit(lines []string) error {
	r, ok := serial.ReplyOf(lines)
	switch {
	case !ok:
		return cli.Exit(12, fmt.Errorf("the device printed no outcome: %q", strings.Join(lines, " / ")))
	case r.Busy:
		return cli.Exit(2, errors.New(r.Reason))
	case r.NotReceived:
		return cli.Exit(10, fmt.Errorf("receive failed: %s; nothing was installed", r.Reason))
	case r.Outcome == "":
		return cli.Exit(12, errors.New(r.Reason))
	}
	if code := r.Outcome.ExitCode(); code != 0 {
		return cli.Exit(code, fmt.Errorf("%s: %s", r.Outcome, r.Reason))
	}
	return nil
}
