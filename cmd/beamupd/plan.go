package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/updater"
)

func planCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamupd plan", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	return &ffcli.Command{
		Name:       "plan",
		ShortUsage: "beamupd plan [--config FILE] [--json] BUNDLE",
		ShortHelp:  "dry run: verify a bundle and say how it would install, changing nothing",
		LongHelp: "Prints the path (hot, cold, or back to a release still on the node), every reason\n" +
			"it cannot be hot, and for hot the relup's instructions in order.\n" +
			"Exit codes: 0 installable, 10 it would be refused, 2 usage or configuration error.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return cli.Usage("plan takes one bundle file")
			}
			return withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, c *config.Config) error {
				f, err := os.Open(args[0])
				if err != nil {
					return cli.Exit(10, fmt.Errorf("reading bundle: %w", err))
				}
				defer f.Close()
				p, err := u.Plan(ctx, args[0], f)
				if err != nil {
					return err
				}
				if *asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(p)
				}
				printPlan(stdout, p)
				return nil
			})
		},
	}
}

func printPlan(w io.Writer, p *updater.Preview) {
	fmt.Fprintf(w, "%s %s -> %s: %s\n", p.Name, p.From, p.Version, p.Path)
	for _, r := range p.Reasons {
		fmt.Fprintf(w, "  cold: %s\n", r)
	}
	if p.RelupOnDevice {
		fmt.Fprintf(w, "  the relup is made on the device from the bundle's appups\n")
	}
	for i, in := range p.Instructions {
		fmt.Fprintf(w, "  %2d. %s\n", i+1, in)
	}
}
