package updater

import (
	"context"
	"slices"
)

// policy decides, from a verified manifest and before any payload byte is
// read, whether a bundle is meant for this device.
func (u *Updater) policy(ctx context.Context) func(*Header) error {
	return func(h *Header) error {
		m := h.Manifest
		if m.Kind != KindRelease {
			return reject("bundle of kind %q: this build installs release bundles only (self-update comes with the agent transport)", m.Kind)
		}
		if u.cfg.Release != "" && m.Name != u.cfg.Release {
			return reject("bundle is release %q, this device runs %q", m.Name, u.cfg.Release)
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

// Check tells whether a verified bundle is meant for this device, before
// any payload byte is fetched: transports call it on an offer.
func (u *Updater) Check(ctx context.Context, h *Header) error {
	return u.policy(ctx)(h)
}
