package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"
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
			c, err := loadConfig(*cfgPath)
			if err != nil {
				return err
			}
			u, closeNode, err := device(ctx, c, stderr)
			if err != nil {
				return err
			}
			defer closeNode()
			r, err := u.Resume(ctx)
			if err != nil {
				return err
			}
			if r != nil {
				fmt.Fprintf(stderr, "%s: %s\n", r.Outcome, r.Reason)
			}
			<-ctx.Done()
			return nil
		},
	}
}
