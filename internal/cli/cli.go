// Package cli holds what beamup's two commands share: an error that
// carries its exit code out of a subcommand.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"
)

// ExitError is an error with the exit code the command ends with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit wraps err with an exit code.
func Exit(code int, err error) error { return &ExitError{Code: code, Err: err} }

// Usage is a usage error: exit code 2.
func Usage(format string, args ...any) error { return Exit(2, fmt.Errorf(format, args...)) }

// Code is the exit code err carries, if it carries one.
func Code(err error) (int, bool) {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code, true
	}
	return 0, false
}

// ParseAndRun parses args for root and runs the command they name. A
// command line that does not parse (an unknown flag, a bad value) is a
// usage error, exit code 2, from both commands.
func ParseAndRun(ctx context.Context, root *ffcli.Command, args []string) error {
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Exit(2, err)
	}
	return root.Run(ctx)
}
