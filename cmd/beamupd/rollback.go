package main

import (
	"context"
	"flag"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/updater"
)

func rollbackCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamupd rollback", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	return &ffcli.Command{
		Name:       "rollback",
		ShortUsage: "beamupd rollback [--config FILE]",
		ShortHelp:  "go back to the previous permanent release",
		FlagSet:    fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 0 {
				return cli.Usage("rollback takes no arguments")
			}
			return withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, _ *config.Config) error {
				r, err := u.Rollback(ctx)
				return printOutcome(stdout, r, err)
			})
		},
	}
}
