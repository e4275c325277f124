package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
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
			"until SIGTERM. One operation runs at a time, whichever transport asked.",
		FlagSet: fs,
		Exec: func(ctx context.Context, args []string) error {
			return withDevice(ctx, *cfgPath, stderr, func(u *updater.Updater, c *config.Config) error {
				return serve(ctx, u, c, stderr)
			})
		},
	}
}

// serve resumes, then runs every configured transport until ctx is done.
func serve(ctx context.Context, u *updater.Updater, c *config.Config, stderr io.Writer) error {
	// Every step is logged, and sent to each transport that reports steps.
	var sinks []func(string, ...any)
	printf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	u.Log = func(format string, args ...any) {
		printf(format, args...)
		for _, s := range sinks {
			s(format, args...)
		}
	}
	r, err := u.Resume(ctx)
	if err != nil {
		return err
	}
	if r != nil {
		printf("%s: %s", r.Outcome, r.Reason)
	}

	// Build every transport before any runs: sinks is read by u.Log.
	var runners []func(context.Context) error
	if c.Serial.Port != "" {
		port, err := serial.Open(c.Serial.Port, c.Serial.Baud)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		defer port.Close()
		console := serial.NewConsole(port, u, filepath.Join(c.Device.StateDir, "staging"))
		console.Describe = func(s *updater.Status) { s.Device, s.Board, s.AgentVersion = c.Device.ID, c.Device.Board, version }
		sinks = append(sinks, console.Event)
		runners = append(runners, console.Run)
	}
	if c.MQTT.Broker != "" {
		d, err := mqttDevice(u, c, printf)
		if err != nil {
			return err
		}
		sinks = append(sinks, d.Event)
		runners = append(runners, d.Run)
	}
	sinks = append(sinks, func(format string, args ...any) { systemd.Status(fmt.Sprintf(format, args...)) })
	systemd.Ready(fmt.Sprintf("serving %s", describe(c)))
	var wg sync.WaitGroup
	errc := make(chan error, len(runners))
	for _, run := range runners {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- run(ctx) }()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
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
func mqttDevice(u *updater.Updater, c *config.Config, log func(string, ...any)) (*mqtt.Device, error) {
	keys, err := updater.LoadPublicKeys(c.Trust.PublicKeys)
	if err != nil {
		return nil, err
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
	return mqtt.NewDevice(cfg, u, log), nil
}
