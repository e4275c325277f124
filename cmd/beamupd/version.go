package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/peterbourgon/ff/v3/ffcli"
)

func versionCommand(stdout io.Writer) *ffcli.Command {
	return &ffcli.Command{
		Name:       "version",
		ShortUsage: "beamupd version",
		ShortHelp:  "print beamupd's version",
		FlagSet:    flag.NewFlagSet("beamupd version", flag.ContinueOnError),
		Exec: func(context.Context, []string) error {
			fmt.Fprintf(stdout, "beamupd %s (commit %s)\n", version, commit)
			return nil
		},
	}
}
