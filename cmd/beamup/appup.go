package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/beamup/beamup/appup"
	"github.com/beamup/beamup/internal/cli"
)

func appupCommand(stdout io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamup appup", flag.ContinueOnError)
	out := fs.String("o", ".", "directory the .appup files are written to")
	force := fs.Bool("force", false, "replace an .appup that is there already")
	return &ffcli.Command{
		Name:       "appup",
		ShortUsage: "beamup appup [-o DIR] [--force] OLD NEW",
		ShortHelp:  "write the .appup of every application that changed, from the BEAM files",
		LongHelp: "OLD and NEW are release tarballs (mix release, rebar3 tar, systools:make_tar) or\n" +
			"release directories. For every application whose version changed, DIR/APP.appup\n" +
			"upgrades from OLD's version and back: modules added, removed and changed (by their\n" +
			"code, not timestamps or debug info), supervisors and processes with code_change\n" +
			"updated, the rest loaded, each after the changed modules it calls. An .appup that is\n" +
			"there already is kept, and the difference printed, unless --force.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 2 {
				return cli.Usage("appup takes OLD and NEW")
			}
			old, err := appup.ReadRelease(args[0])
			if err != nil {
				return err
			}
			new, err := appup.ReadRelease(args[1])
			if err != nil {
				return err
			}
			ups := appup.Changed(old, new)
			if len(ups) == 0 {
				fmt.Fprintf(stdout, "no application changed its version from %s %s to %s\n", old.Name, old.Version, new.Version)
				return nil
			}
			for _, a := range ups {
				if err := writeAppup(stdout, filepath.Join(*out, a.App+".appup"), a, *force); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// writeAppup writes a's appup to p, unless an appup that says something
// else is there and force is not given: that one stays, and the
// difference is printed.
func writeAppup(stdout io.Writer, p string, a *appup.Appup, force bool) error {
	text := a.Format()
	for _, c := range a.Cycles {
		fmt.Fprintf(stdout, "%s: modules that call each other, ordered by name: %v\n", a.App, c)
	}
	if have, err := os.ReadFile(p); err == nil && !force {
		if string(have) == text {
			fmt.Fprintf(stdout, "%s is up to date\n", p)
			return nil
		}
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(have)),
			B: difflib.SplitLines(text), FromFile: p, ToFile: "generated", Context: 2})
		fmt.Fprintf(stdout, "%s kept (--force replaces it); the generated one differs:\n%s", p, diff)
		return nil
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s %s -> %s, %d instructions up, %d down\n", p, a.App, a.Old, a.New, len(a.Up), len(a.Down))
	return nil
}
