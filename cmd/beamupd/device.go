package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/beamup/beamup/agent"
	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/board"
	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/updater"
)

// device connects to the node and builds the updater the configuration
// describes. close releases the connection.
func device(ctx context.Context, c *config.Config, log io.Writer) (u *updater.Updater, close func(), err error) {
	keys, err := bundle.LoadPublicKeys(c.Trust.PublicKeys)
	if err != nil {
		return nil, nil, cli.Exit(2, err)
	}
	control, err := board.ParseControl(c.Node.Control)
	if err != nil {
		return nil, nil, cli.Exit(2, err)
	}
	cookie, err := c.Cookie()
	if err != nil {
		return nil, nil, cli.Exit(2, err)
	}
	node, err := beam.Dial(ctx, beam.Options{Node: c.Node.Name, Cookie: cookie, EPMDPort: c.Node.EPMDPort,
		CallTimeout: c.Node.CallTimeout.Duration})
	if err != nil {
		return nil, nil, err
	}
	cfg := updater.Config{
		Device:   c.Device.ID,
		StateDir: c.Device.StateDir,
		Root:     c.Node.Root,
		Release:  c.Node.Release,
		Board:    c.Device.Board,
		Keys:     keys,
		Install: beam.InstallOptions{
			SuspendTimeout:    c.Node.SuspendTimeout.Duration,
			CodeChangeTimeout: c.Node.CodeChangeTimeout.Duration,
		},
		InstallTimeout: c.Node.InstallTimeout.Duration,
		BootTimeout:    c.Node.BootTimeout.Duration,
		Health: updater.HealthConfig{
			Soak:     c.Health.Soak.Duration,
			Interval: c.Health.Interval.Duration,
			Timeout:  c.Health.Timeout.Duration,
		},
	}
	// The trial's lines go wherever the updater's go, once it exists.
	logf := func(format string, args ...any) { u.Log(format, args...) }
	if cfg.Agent, err = agentConfig(c, logf); err != nil {
		return nil, nil, cli.Exit(2, err)
	}
	if c.Health.Function != "" {
		cfg.Health.Module, cfg.Health.Function, _ = strings.Cut(c.Health.Function, ":")
	}
	u = updater.New(cfg, node, control)
	u.Report = func(e report.Event) { fmt.Fprintln(log, e.Message) }
	return u, node.Close, nil
}

// agentConfig describes this beamupd for self-update, and how a new one is
// tried: as "beamupd run" with the same configuration.
func agentConfig(c *config.Config, log func(string, ...any)) (updater.AgentConfig, error) {
	path := c.Agent.Path
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return updater.AgentConfig{}, fmt.Errorf("finding the running executable (set [agent] path): %w", err)
		}
		if path, err = filepath.EvalSymlinks(exe); err != nil {
			return updater.AgentConfig{}, fmt.Errorf("finding the running executable (set [agent] path): %w", err)
		}
	}
	// The trial gives the new binary a notify socket and watchdog of its own.
	env := environWithout(func(k string) bool { return k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "WATCHDOG_") })
	a := c.Agent
	return updater.AgentConfig{
		Path: path, Version: version, Arch: agent.Arch(), Attempts: a.Attempts,
		Trier: &agent.Trial{
			Args: []string{"run", "--config", c.Path}, Env: env, Stdout: os.Stderr,
			StartTimeout: a.StartTimeout.Duration, Watchdog: a.Watchdog.Duration, Period: a.Trial.Duration,
			Log: log,
		},
	}, nil
}

// withDevice loads the configuration at cfgPath, connects to the node and
// runs f with the device's updater.
func withDevice(ctx context.Context, cfgPath string, log io.Writer, f func(*updater.Updater, *config.Config) error) error {
	c, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	u, closeNode, err := device(ctx, c, log)
	if err != nil {
		return err
	}
	defer closeNode()
	return f(u, c)
}

// printOutcome prints an operation's outcome as one line and returns the error
// that carries its exit code.
func printOutcome(w io.Writer, r *report.Result, err error) error {
	if r == nil {
		return err
	}
	line := fmt.Sprintf("%s: %s", r.Outcome, r.Reason)
	if r.Outcome == report.Committed {
		fmt.Fprintln(w, line)
		return nil
	}
	return cli.Exit(r.Outcome.ExitCode(), fmt.Errorf("%s", line))
}
