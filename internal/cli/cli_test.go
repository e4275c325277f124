package cli

import (
	"context"
	"flag"
	"io"
	"testing"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// An unknown flag or a bad value is a usage error: exit code 2.
func TestParseErrorsAreUsage(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"sub", "--n", "x"}} {
		fs := flag.NewFlagSet("sub", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Int("n", 0, "")
		root := &ffcli.Command{Name: "root", FlagSet: flag.NewFlagSet("root", flag.ContinueOnError),
			Subcommands: []*ffcli.Command{{Name: "sub", FlagSet: fs, Exec: func(context.Context, []string) error { return nil }}}}
		root.FlagSet.SetOutput(io.Discard)
		err := ParseAndRun(context.Background(), root, args)
		if code, ok := Code(err); !ok || code != 2 {
			t.Errorf("%v: %v (code %d), want exit code 2", args, err, code)
		}
	}
}
