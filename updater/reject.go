package updater

import (
	"fmt"

	"github.com/beamup/beamup/report"
)

// reject is a bundle refused before any change.
func reject(format string, args ...any) error {
	return &report.Error{Outcome: report.Rejected, Err: fmt.Errorf(format, args...)}
}
