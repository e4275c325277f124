package report

import (
	"errors"
	"fmt"
)

// Outcome is how an operation ended; each maps to one exit code of
// beamupd install and rollback.
type Outcome string

const (
	Committed Outcome = "committed" // exit 0
	Rejected  Outcome = "rejected"  // exit 10: refused before any change
	Reverted  Outcome = "reverted"  // exit 11: failed; the previous release runs, healthy
	Failed    Outcome = "failed"    // exit 12: the node's state needs attention

	// Staged is not an end: a new beamupd verified in staging waits to be
	// tried (TryAgent).
	Staged Outcome = "staged"
)

// ExitCode is the command-line exit code for an outcome.
func (o Outcome) ExitCode() int {
	switch o {
	case Committed:
		return 0
	case Rejected:
		return 10
	case Reverted:
		return 11
	}
	return 12
}

// ErrBusy is returned when another operation holds the device.
var ErrBusy = errors.New("busy")

// Error is an operation that did not commit: its outcome and why.
type Error struct {
	Outcome Outcome
	Err     error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Outcome, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// OutcomeOf returns the outcome an error stands for: Rejected for a bad
// bundle, Failed for anything unclassified.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Committed
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Outcome
	}
	return Failed
}

// TransferError is a transport that broke off while the bundle arrived
// (a cable pulled, a sender gone): nothing was installed, and the bundle
// was not found wrong.
type TransferError struct{ Err error }

func (e *TransferError) Error() string { return "transfer broken off: " + e.Err.Error() }
func (e *TransferError) Unwrap() error { return e.Err }
