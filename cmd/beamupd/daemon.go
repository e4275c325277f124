package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/agent"
	"github.com/beamup/beamup/board"
	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/daemon"
	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/systemd"
	"github.com/beamup/beamup/transport/mqtt"
	"github.com/beamup/beamup/transport/serial"
	"github.com/beamup/beamup/updater"
)

func runCommand(stdout, stderr io.Writer) *ffcli.Command {
	fs := flag.NewFlagSet("beamupd run", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	return &ffcli.Command{
		Name:       "run",
		ShortUsage: "beamupd run [--config FILE]",
		ShortHelp:  "the daemon: finishes an interrupted operation, then serves its transports",
		LongHelp: "On start, run finishes whatever operation an earlier beamupd left in the\n" +
			"journal (after a crash or power cut). It then serves the serial console when\n" +
			"[serial] port is set and follows its MQTT targets when [mqtt] broker is set,\n" +
			"until SIGTERM. One operation runs at a time, whichever transport asked.\n" +
			"Under systemd it says READY, keeps STATUS current and feeds the watchdog\n" +
			"from its main loop; [device] watchdog names a hardware watchdog it feeds too.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			var exe string
			err := withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, c *config.Config) error {
				exe = u.AgentPath()
				return serve(ctx, u, c, stderr)
			})
			if errors.Is(err, daemon.ErrHandover) {
				return handover(exe)
			}
			return err
		},
	}
}

// serve runs the daemon's main loop over every configured transport until
// ctx is done.
func serve(ctx context.Context, u *updater.Updater, c *config.Config, stderr io.Writer) error {
	// One daemon per device. A beamupd on trial runs beside the one that
	// tries it, which holds the lock for both.
	trial := os.Getenv(agent.TrialEnv) != ""
	if !trial {
		lock, err := updater.AcquireRun(c.Device.StateDir)
		if err != nil {
			return cli.Exit(2, err)
		}
		defer lock.Release()
	}
	var notify systemd.Notifier
	cfg := daemon.Config{
		Watchdog:   systemd.WatchdogInterval(),
		StuckAfter: stuckAfter(c),
		Notify:     notify,
		Describe:   describe(c),
		Log:        func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) },
	}
	// On trial, the beamupd trying this one keeps the hardware watchdog:
	// the device opens to one process at a time.
	if c.Device.Watchdog != "" && !trial {
		wd, err := board.OpenWatchdog(c.Device.Watchdog, c.Device.WatchdogTimeout.Duration)
		if err != nil {
			return cli.Exit(2, err)
		}
		defer wd.Close()
		cfg.Hardware = wd
	}
	injectFault(&cfg)
	d := daemon.New(cfg, trialUpdater{u, trial})

	// Every event is logged, counts as progress, and goes to each
	// transport that reports steps and to systemd's STATUS line.
	u.Report = d.Report
	d.AddReporter(func(e report.Event) { cfg.Log("%s", e.Message) })
	d.AddReporter(func(e report.Event) { notify.Status(e.Message) })
	if c.Serial.Port != "" {
		console := serial.NewConsole(nil, d, filepath.Join(c.Device.StateDir, "staging"))
		d.AddReporter(console.Event)
		d.AddTransport(func(ctx context.Context) error {
			// Opened for each run: the port is exclusive, and a new
			// beamupd on trial needs it.
			port, err := serial.Open(c.Serial.Port, c.Serial.Baud)
			if err != nil {
				return cli.Exit(2, err)
			}
			defer port.Close()
			console.Port = port
			return console.Run(ctx)
		})
	}
	if c.MQTT.Broker != "" {
		dev, err := mqttDevice(d, c, cfg.Log)
		if err != nil {
			return err
		}
		d.AddReporter(dev.Event)
		d.AddTransport(dev.Run)
	}
	return d.Run(ctx)
}

// stuckAfter bounds how long one operation may go without a line of
// progress: the longest quiet stretch of any step is install_release, a
// restart of the node, the soak, or a trial of a new beamupd.
func stuckAfter(c *config.Config) time.Duration {
	release := c.Node.InstallTimeout.Duration + c.Node.BootTimeout.Duration + c.Health.Soak.Duration
	trial := c.Agent.StartTimeout.Duration + c.Agent.Trial.Duration + 10*time.Second
	return max(release, trial) + 2*c.Node.CallTimeout.Duration
}

// trialUpdater is the updater of a beamupd on trial: the journal belongs to
// the beamupd that tries it, so there is nothing to resume.
type trialUpdater struct {
	*updater.Updater
	trial bool
}

func (t trialUpdater) Resume(ctx context.Context) (*report.Result, error) {
	if t.trial {
		return nil, nil
	}
	return t.Updater.Resume(ctx)
}

// describe names the transports the daemon serves.
func describe(c *config.Config) string {
	var t []string
	if c.Serial.Port != "" {
		t = append(t, "serial "+c.Serial.Port)
	}
	if c.MQTT.Broker != "" {
		t = append(t, "mqtt "+c.MQTT.Broker)
	}
	if len(t) == 0 {
		return "no transport (beamupd install only)"
	}
	return strings.Join(t, ", ")
}

// mqttDevice is the device on the configured broker.
func mqttDevice(inst mqtt.Installer, c *config.Config, log func(string, ...any)) (*mqtt.Device, error) {
	keys, err := bundle.LoadPublicKeys(c.Trust.PublicKeys)
	if err != nil {
		return nil, err
	}
	targetKeys := keys
	if len(c.Trust.TargetKeys) > 0 {
		if targetKeys, err = bundle.LoadPublicKeys(c.Trust.TargetKeys); err != nil {
			return nil, err
		}
	}
	m := c.MQTT
	cfg := mqtt.DeviceConfig{
		Conn: mqtt.Options{Broker: m.Broker, ClientID: "beamupd-" + c.Device.ID, CAFile: m.CAFile,
			CertFile: m.CertFile, KeyFile: m.KeyFile, Username: m.Username, PasswordFile: m.PasswordFile},
		Topics:     mqtt.Topics{Prefix: m.TopicPrefix},
		Device:     c.Device.ID,
		Board:      c.Device.Board,
		Groups:     m.Groups,
		StateDir:   c.Device.StateDir,
		Fetcher:    mqtt.Fetcher{Keys: keys},
		TargetKeys: targetKeys,
	}
	return mqtt.NewDevice(cfg, inst, log), nil
}
