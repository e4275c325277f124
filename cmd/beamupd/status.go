package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/updater"
)

func statusCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamupd status", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the status JSON")
	return &ffcli.Command{
		Name:       "status",
		ShortUsage: "beamupd status [--config FILE] [--json]",
		ShortHelp:  "current release, state and last result",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			return withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, c *config.Config) error {
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				s, err := u.Status(sctx)
				if err != nil {
					return err
				}
				if *asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(s)
				}
				rel := "unknown (node not answering)"
				if s.Release != nil {
					rel = fmt.Sprintf("%s %s (%s)", s.Release.Name, s.Release.Version, s.Release.Status)
				}
				fmt.Fprintf(stdout, "device   %s (board %s, beamupd %s)\nrelease  %s\nstate    %s\n",
					s.Device, s.Board, s.AgentVersion, rel, s.State)
				if l := s.LastResult; l != nil {
					fmt.Fprintf(stdout, "last     %s %s at %s: %s\n", l.Outcome, l.Version, l.At.Format(time.RFC3339), l.Reason)
				}
				return nil
			})
		},
	}
}
