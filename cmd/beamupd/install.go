package main

import (
	"context"
	"flag"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/updater"
)

func installCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamupd install", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	return &ffcli.Command{
		Name:       "install",
		ShortUsage: "beamupd install [--config FILE] BUNDLE",
		ShortHelp:  "install a bundle from a file and wait for the outcome",
		LongHelp: "Exit codes: 0 committed, 10 rejected before any change, 11 failed and reverted,\n" +
			"12 failed and the node needs attention, 2 usage or configuration error.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageError("install takes one bundle file")
			}
			return withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, _ *config.Config) error {
				r, err := u.Install(ctx, args[0])
				return report(stdout, r, err)
			})
		},
	}
}
