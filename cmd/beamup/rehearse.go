package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/rehearse"
)

func rehearseCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup rehearse", flag.ContinueOnError)
	pub := fs.String("pub", "", "public key the bundle is signed with")
	beamupd := fs.String("beamupd", "", "the beamupd that applies it (default: beside beamup, else on PATH)")
	soak := fs.Duration("soak", 2*time.Second, "health soak of the rehearsed install")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	return &ffcli.Command{
		Name:       "rehearse",
		ShortUsage: "beamup rehearse --pub PUB [--json] OLD.tar.gz BUNDLE",
		ShortHelp:  "rehearse an upgrade: boot OLD, apply BUNDLE as a device would, measure the pause, go back",
		LongHelp: "In a temporary directory the release OLD runs as a target system with its own ERTS;\n" +
			"beamupd applies the bundle (plan, install, health, commit) while a 1 kHz probe on the node\n" +
			"times every process the relup suspends; then beamupd rollback goes back and the old\n" +
			"release is checked again. Exit 0 when all of it passed, 1 when any failed (the report\n" +
			"says which), 2 for a usage error.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 2 || *pub == "" {
				return cli.Usage("rehearse needs --pub, OLD.tar.gz and BUNDLE")
			}
			exe, err := findBeamupd(*beamupd)
			if err != nil {
				return err
			}
			r, err := rehearse.Run(ctx, rehearse.Options{Old: args[0], Bundle: args[1], PublicKey: *pub,
				Beamupd: exe, Soak: *soak, Log: stderr})
			if err != nil {
				return err
			}
			if *asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				enc.Encode(r)
			} else {
				printRehearsal(stdout, r)
			}
			if !r.OK {
				return cli.Exit(1, errors.New("the rehearsal failed"))
			}
			return nil
		},
	}
}

func findBeamupd(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "beamupd"); fileExists(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("beamupd")
	if err != nil {
		return "", fmt.Errorf("rehearse runs beamupd: give --beamupd or put it on PATH: %w", err)
	}
	return p, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func printRehearsal(w io.Writer, r *rehearse.Report) {
	fmt.Fprintf(w, "%s %s -> %s: %s\n", r.Release, r.From, r.To, r.Path)
	for _, why := range r.Reasons {
		fmt.Fprintf(w, "  cold: %s\n", why)
	}
	fmt.Fprintf(w, "install:  %s in %d ms: %s\n", r.Install.Outcome, r.Install.Millis, r.Install.Reason)
	for _, p := range r.Pauses {
		fmt.Fprintf(w, "  %s paused at most %.1f ms\n", p.Process, p.Millis)
	}
	fmt.Fprintf(w, "back:     %s in %d ms: %s\n", r.Back.Outcome, r.Back.Millis, r.Back.Reason)
	verdict := "passed"
	if !r.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "%s %s healthy again: %v; rehearsal %s\n", r.Release, r.From, r.OldAgain, verdict)
}
