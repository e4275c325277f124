package main

import (
	"context"
	"flag"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/report"
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
			"12 failed and the node needs attention, 2 usage or configuration error.\n\n" +
			"An agent bundle (a new beamupd) is tried as 'beamupd run' before it replaces\n" +
			"[agent] path. It is refused (exit 10) while a beamupd daemon serves the device:\n" +
			"send it to the daemon over MQTT or the serial console, where it hands over to the\n" +
			"new binary by itself, or stop the daemon first.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return cli.Usage("install takes one bundle file")
			}
			return withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, c *config.Config) error {
				r, err := u.Install(ctx, args[0])
				if err == nil && r.Outcome == report.Staged {
					r, err = selfUpdate(ctx, u, c)
				}
				return printOutcome(stdout, r, err)
			})
		},
	}
}

// selfUpdate tries the staged beamupd and, when it passes, commits it:
// this one-shot process does not hand over to it. Not while a daemon
// serves the device: the new binary on trial would contend with it for
// the broker's client id and the serial port, and fail for that.
func selfUpdate(ctx context.Context, u *updater.Updater, c *config.Config) (*report.Result, error) {
	if d := updater.RunningDaemon(c.Device.StateDir); d != "" {
		return u.DropStagedAgent(d + " serves this device; send the bundle to it over MQTT or the serial console, " +
			"where it tries and hands over to the new beamupd itself, or stop it first")
	}
	replaced, r, err := u.TryAgent(ctx)
	if err != nil || !replaced {
		return r, err
	}
	return u.FinishAgent()
}
