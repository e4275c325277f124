package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/config"
	"github.com/beamup/beamup/internal/cli"
	"github.com/beamup/beamup/report"
)

// version and commit are stamped at build time with -ldflags
// "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// run is beamupd's command line; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &ffcli.Command{
		Name:       "beamupd",
		ShortUsage: "beamupd <run|install|plan|status|rollback|version> [flags]",
		ShortHelp:  "keeps the local BEAM node's release up to date",
		FlagSet:    flag.NewFlagSet("beamupd", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			runCommand(stdout, stderr),
			installCommand(stdout, stderr),
			planCommand(stdout, stderr),
			statusCommand(stdout, stderr),
			rollbackCommand(stdout, stderr),
			versionCommand(stdout),
		},
		Exec: func(context.Context, []string) error {
			return cli.Usage("missing command: run, install, plan, status, rollback or version")
		},
	}
	root.FlagSet.SetOutput(stderr)
	for _, c := range root.Subcommands {
		c.FlagSet.SetOutput(stderr)
	}
	err := cli.ParseAndRun(ctx, root, args)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "beamupd:", err)
	if code, ok := cli.Code(err); ok {
		return code
	}
	if errors.Is(err, report.ErrBusy) {
		return 2
	}
	if code := report.OutcomeOf(err).ExitCode(); code != 0 {
		return code
	}
	return 2
}

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration file (default $BEAMUPD_CONFIG or "+config.DefaultPath+")")
}

// loadConfig reads the configuration; a bad one is a usage error.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		path = os.Getenv("BEAMUPD_CONFIG")
	}
	if path == "" {
		path = config.DefaultPath
	}
	c, err := config.Load(path)
	if err != nil {
		return nil, cli.Exit(2, err)
	}
	return c, nil
}
