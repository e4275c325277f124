package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/updater"
)

func runCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamupd run", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	return &ffcli.Command{
		Name:       "run",
		ShortUsage: "beamupd run [--config FILE]",
		ShortHelp:  "the daemon: finishes an interrupted operation, then serves until stopped",
		LongHelp: "On start, run finishes whatever operation an earlier beamupd left in the\n" +
			"journal (after a crash or power cut). The MQTT and serial transports are not in\n" +
			"this build yet; it then waits for SIGTERM.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			return withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, _ *config.Config) error {
				r, err := u.Resume(ctx)
				if err != nil {
					return err
				}
				if r != nil {
					fmt.Fprintf(stderr, "%s: %s\n", r.Outcome, r.Reason)
				}
				<-ctx.Done()
				return nil
			})
		},
	}
}
