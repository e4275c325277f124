package updater

import (
	"fmt"

	"github.com/hashicorp/go-version"
)

// older says whether release version a comes before b. Versions are
// ordered as release tools number them: numerically by segment, a
// pre-release (1.2.0-rc1) before its release. Versions that do not read
// as such cannot be ordered: an error says which.
func older(a, b string) (bool, error) {
	va, err := version.NewVersion(a)
	if err != nil {
		return false, fmt.Errorf("version %q cannot be ordered: %w", a, err)
	}
	vb, err := version.NewVersion(b)
	if err != nil {
		return false, fmt.Errorf("version %q cannot be ordered: %w", b, err)
	}
	return va.LessThan(vb), nil
}
