package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"aead.dev/minisign"
	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/cli"
)

// run is beamup's command line; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &ffcli.Command{
		Name:       "beamup",
		ShortUsage: "beamup <keygen|bundle|appup|rehearse|verify|inspect|publish|retract|status|serial> [flags]",
		ShortHelp:  "makes keys and signed bundles for beamupd",
		FlagSet:    flag.NewFlagSet("beamup", flag.ContinueOnError),
		Subcommands: []*ffcli.Command{
			keygenCommand(stdout, stderr),
			bundleCommand(stdout),
			appupCommand(stdout),
			rehearseCommand(stdout, stderr),
			verifyCommand(stdout),
			inspectCommand(stdout),
			publishCommand(stdout, stderr),
			retractCommand(stdout),
			statusCommand(stdout),
			serialCommand(stdout, stderr),
		},
		Exec: func(context.Context, []string) error {
			return cli.Usage("missing command: keygen, bundle, appup, rehearse, verify, inspect, publish, retract, status or serial")
		},
	}
	root.FlagSet.SetOutput(stderr)
	for _, c := range root.Subcommands {
		c.FlagSet.SetOutput(stderr)
	}
	err := cli.ParseAndRun(ctx, root, args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(stderr, "beamup:", err)
	if code, ok := cli.Code(err); ok {
		return code
	}
	return 1
}

// password reads a key password from a file or BEAMUP_KEY_PASSWORD.
func password(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv("BEAMUP_KEY_PASSWORD"), nil
}

// secretKey loads a signing key, with the password of pwFile (or
// BEAMUP_KEY_PASSWORD) when it is encrypted.
func secretKey(key, pwFile string) (minisign.PrivateKey, error) {
	pw, err := password(pwFile)
	if err != nil {
		return minisign.PrivateKey{}, err
	}
	return bundle.LoadSecretKey(key, pw)
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
