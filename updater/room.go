package updater

import (
	"fmt"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/report"
)

// ErrNoRoom is the failure of a bundle the device has no room for: the
// device's problem, not the bundle's, and over before anything changed.
type ErrNoRoom struct {
	Where      string
	Free, Need int64
}

func (e *ErrNoRoom) Error() string {
	return fmt.Sprintf("%s has %s free, the bundle needs %s", e.Where, mib(e.Free), mib(e.Need))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// staging needs the payload, and for a delta the release rebuilt beside
// it (its files, a tar header or two each).
func stagingNeed(m *bundle.Manifest) int64 {
	need := m.Payload.Size
	if d := m.Delta; d != nil {
		need += d.Size + int64(d.Files)*1536 + 1<<20
	}
	return need
}

// room fails, before a byte is written, a bundle that the filesystem of
// dir has no room for. A filesystem that cannot say lets the writes
// find out.
func room(where, dir string, need int64) error {
	free, err := durable.Free(dir)
	if err != nil || free >= need {
		return nil
	}
	return &report.Error{Outcome: report.Failed, Err: &ErrNoRoom{Where: where, Free: free, Need: need}}
}
