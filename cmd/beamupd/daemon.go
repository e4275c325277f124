package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/transport/mqtt"
	"github.com/beamup/beamup/updater"
)

func runCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamupd run", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	return &ffcli.Command{
		Name:       "run",
		ShortUsage: "beamupd run [--config FILE]",
		ShortHelp:  "the daemon: finishes an interrupted operation, then follows its MQTT targets",
		LongHelp: "On start, run finishes whatever operation an earlier beamupd left in the\n" +
			"journal (after a crash or power cut). With [mqtt] broker set it then follows the\n" +
			"device's targets on the broker until SIGTERM.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			return withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, c *config.Config) error {
				r, err := u.Resume(ctx)
				if err != nil {
					return err
				}
				if r != nil {
					fmt.Fprintf(stderr, "%s: %s\n", r.Outcome, r.Reason)
				}
				if c.MQTT.Broker == "" {
					<-ctx.Done()
					return nil
				}
				return runMQTT(ctx, u, c, stderr)
			})
		},
	}
}

// runMQTT follows the device's targets on the broker.
func runMQTT(ctx context.Context, u *updater.Updater, c *config.Config, log io.Writer) error {
	keys, err := updater.LoadPublicKeys(c.Trust.PublicKeys)
	if err != nil {
		return err
	}
	m := c.MQTT
	cfg := mqtt.DeviceConfig{
		Conn: mqtt.Options{Broker: m.Broker, ClientID: "beamupd-" + c.Device.ID, CAFile: m.CAFile,
			CertFile: m.CertFile, KeyFile: m.KeyFile, Username: m.Username, PasswordFile: m.PasswordFile},
		Topics:       mqtt.Topics{Prefix: m.TopicPrefix},
		Device:       c.Device.ID,
		Board:        c.Device.Board,
		Groups:       m.Groups,
		AgentVersion: version,
		StateDir:     c.Device.StateDir,
		Fetcher:      mqtt.Fetcher{Keys: keys},
	}
	printf := func(format string, args ...any) { fmt.Fprintf(log, format+"\n", args...) }
	d := mqtt.NewDevice(cfg, u, printf)
	u.Log = func(format string, args ...any) {
		printf(format, args...)
		d.Event(format, args...)
	}
	return d.Run(ctx)
}
