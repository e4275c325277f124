package updater

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/beamup/beamup/beam"
)

// preflight compares the running release with the new one and decides how
// to upgrade. Changes that must never be hot-upgraded make it refuse a hot
// upgrade, with the reasons.
func (u *Updater) preflight(ctx context.Context, op *Operation, files *beam.ReleaseFiles) error {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return fmt.Errorf("asking the node for its releases: %w", err)
	}
	running, ok := beam.Current(rels)
	if !ok {
		return fmt.Errorf("the node reports no permanent release")
	}
	op.From = running.Version
	if running.Name != op.Name {
		return reject("bundle is release %q, the node runs %q", op.Name, running.Name)
	}
	for _, r := range rels {
		if r.Version != op.Version {
			continue
		}
		if r.Status != "unpacked" {
			return reject("%s %s is already on the node (%s); a version number is never reused", op.Name, op.Version, r.Status)
		}
		// Left by an attempt that failed and could not clean up: unpacking
		// again would fail with existing_release.
		u.Log("removing %s %s left unpacked by an earlier attempt", op.Name, op.Version)
		u.removeRelease(ctx, op.Version)
	}
	if r, ok := beam.Current(rels); ok && r.Status == "current" {
		return reject("%s %s is installed but not permanent; commit or roll it back first", r.Name, r.Version)
	}
	if len(op.UpgradeFrom) > 0 && !slices.Contains(op.UpgradeFrom, running.Version) {
		return reject("bundle upgrades from %v, the node runs %s", op.UpgradeFrom, running.Version)
	}
	if err := u.checkHealthFunction(ctx, files); err != nil {
		return err
	}
	old, err := beam.ReadInstalled(u.cfg.Root, running.Name, running.Version)
	if err != nil {
		return fmt.Errorf("reading the running release: %w", err)
	}
	reasons := ColdReasons(old, files)
	switch {
	case len(reasons) == 0 && op.Mode != "cold":
		op.Mode = "hot"
		u.Log("preflight: hot upgrade %s -> %s", running.Version, op.Version)
		return nil
	case op.Mode == "hot":
		return reject("hot upgrade refused: %s", strings.Join(reasons, "; "))
	default:
		if len(reasons) == 0 {
			reasons = []string{"the manifest asks for mode cold"}
		}
		return reject("needs a cold upgrade (%s); this build performs hot upgrades only", strings.Join(reasons, "; "))
	}
}

// ColdReasons lists why going from old to new cannot be a hot upgrade: the
// changes OTP's release_handler cannot apply to a running node safely.
func ColdReasons(old, new *beam.ReleaseFiles) []string {
	var reasons []string
	if old.ERTS != new.ERTS {
		reasons = append(reasons, fmt.Sprintf("ERTS changes from %s to %s", old.ERTS, new.ERTS))
	}
	var added, removed []string
	for _, a := range new.Apps {
		if old.App(a.Name) == "" {
			added = append(added, a.Name)
		}
	}
	for _, a := range old.Apps {
		if new.App(a.Name) == "" {
			removed = append(removed, a.Name)
		}
	}
	if len(added) > 0 {
		reasons = append(reasons, "applications added: "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		reasons = append(reasons, "applications removed: "+strings.Join(removed, ", "))
	}
	if new.RelupFrom == nil {
		reasons = append(reasons, "the release has no relup")
	} else if !slices.Contains(new.RelupFrom, old.Version) {
		reasons = append(reasons, fmt.Sprintf("the relup has no upgrade from %s (only %v)", old.Version, new.RelupFrom))
	}
	// sys.config is applied by install_release (config_change/3); these
	// are read only when the emulator starts.
	for _, f := range []string{"vm.args", "runtime.exs", "env.sh"} {
		// relx's start script writes vm.args from vm.args.src at every
		// start: where there is a template, it is what the release ships.
		_, inOld := old.Config[f+".src"]
		if _, inNew := new.Config[f+".src"]; inOld || inNew {
			f += ".src"
		}
		if old.Config[f] != new.Config[f] {
			reasons = append(reasons, f+" changes (read only at boot)")
		}
	}
	var native []string
	for key, sum := range new.Native {
		if was, ok := old.Native[key]; ok && was != sum {
			native = append(native, key)
		}
	}
	if len(native) > 0 {
		slices.Sort(native)
		reasons = append(reasons, "native code changes: "+strings.Join(native, ", "))
	}
	return reasons
}

// checkHealthFunction refuses an install whose health function can be
// called neither on the running node nor from the new release: found
// missing after the point of no return, a typo would cost a restart.
func (u *Updater) checkHealthFunction(ctx context.Context, files *beam.ReleaseFiles) error {
	m, f := u.cfg.Health.Module, u.cfg.Health.Function
	if m == "" {
		return nil
	}
	ok, err := u.node.Exported(ctx, m, f, 0)
	if err != nil {
		return fmt.Errorf("checking the health function: %w", err)
	}
	if ok || files.Modules[m] {
		return nil
	}
	hint := ""
	if !strings.HasPrefix(m, "Elixir.") {
		if ok, _ := u.node.Exported(ctx, "Elixir."+m, f, 0); ok || files.Modules["Elixir."+m] {
			hint = fmt.Sprintf(" (an Elixir module: function = \"Elixir.%s:%s\")", m, f)
		}
	}
	return reject("[health] function %s:%s/0 is exported neither on the node nor by %s %s%s", m, f, files.Name, files.Version, hint)
}
