package updater

import (
	"context"
	"slices"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/failpoint"
)

// policy decides, from a verified manifest and before any payload byte is
// read, whether a bundle is meant for this device.
func (u *Updater) policy(ctx context.Context) func(*bundle.Header) error {
	return func(h *bundle.Header) error {
		// The manifest has verified; the payload is read next.
		failpoint.Hit("verifying")
		m := h.Manifest
		switch m.Kind {
		case bundle.KindAgent:
			if err := u.agentPolicy(m); err != nil {
				return err
			}
		case bundle.KindRelease:
			if u.cfg.Release != "" && m.Name != u.cfg.Release {
				return reject("bundle is release %q, this device runs %q", m.Name, u.cfg.Release)
			}
		}
		if len(m.Compatible) > 0 && !slices.Contains(m.Compatible, u.cfg.Board) {
			return reject("bundle is for boards %v, this device is %q", m.Compatible, u.cfg.Board)
		}
		floor, err := u.security.Floor(m.Name)
		if err != nil {
			return err
		}
		if m.SecurityVersion < floor {
			return reject("security_version %d is below %d, the highest committed for %s (anti-rollback)", m.SecurityVersion, floor, m.Name)
		}
		return nil
	}
}

// Check tells whether a verified bundle is meant for this device and
// whether it has room for it, before any payload byte is fetched:
// transports call it on an offer.
func (u *Updater) Check(ctx context.Context, h *bundle.Header) error {
	if err := u.policy(ctx)(h); err != nil {
		return err
	}
	return room("staging", u.cfg.StateDir, stagingNeed(h.Manifest))
}

// agentPolicy decides whether a new beamupd is meant for this device.
func (u *Updater) agentPolicy(m *bundle.Manifest) error {
	a := u.cfg.Agent
	switch {
	case a.Trier == nil:
		return reject("agent bundle: self-update is not set up on this device")
	case m.Name != "beamupd":
		return reject("agent bundle is %q, not beamupd", m.Name)
	case m.Arch != a.Arch:
		return reject("agent bundle is for %s, this device is %s", m.Arch, a.Arch)
	case m.Version == a.Version:
		return reject("beamupd %s already runs here", m.Version)
	}
	return nil
}
