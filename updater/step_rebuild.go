package updater

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/delta"
	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/internal/failpoint"
)

// rebuild makes, at staged, the release tarball that the verified delta
// payload at payload describes, from the base release installed under
// the release root. Every file is checked against the signed index as it
// is written, and nothing outside staging is touched: a base that differs
// is a refusal that says to send the full bundle. The payload is removed.
func (u *Updater) rebuild(ctx context.Context, m *bundle.Manifest, payload, staged string) error {
	defer os.Remove(payload)
	d := m.Delta
	in, err := os.Open(payload)
	if err != nil {
		return fmt.Errorf("rebuilding the release: %w", err)
	}
	defer in.Close()
	root, err := os.OpenRoot(u.cfg.Root)
	if err != nil {
		return fmt.Errorf("rebuilding the release: %w", err)
	}
	defer root.Close()
	partial := staged + ".partial"
	out, err := os.Create(partial)
	if err != nil {
		return fmt.Errorf("rebuilding the release: %w", err)
	}
	defer os.Remove(partial)
	sw := &stagingWriter{f: out}
	err = delta.Rebuild(ctx, sw, in, root, d.Size, m.Created)
	var base *delta.BaseError
	switch {
	case errors.As(err, &base):
		err = reject("delta against %s %s: %v here; send the full bundle", m.Name, d.Base, base)
	case err != nil && sw.err == nil && ctx.Err() == nil:
		err = reject("%v", err)
	case err == nil:
		failpoint.Hit("rebuilt")
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(partial, staged)
	}
	if err == nil {
		err = durable.SyncDir(u.stagingDir())
	}
	if err == nil {
		u.Log("rebuilt %s %s from the delta against %s: %d files", m.Name, m.Version, d.Base, d.Files)
	}
	return err
}
