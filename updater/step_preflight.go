package updater

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/otprel"
)

// Decision is what preflight decided, and why.
type Decision struct {
	// Path is hot, cold, or back (a signed downgrade to a release still
	// on the node, which goes back to it as a rollback does).
	Path string `json:"path"`
	// Reasons lists why the upgrade cannot be hot; empty for hot.
	Reasons []string `json:"reasons,omitempty"`
	// Instructions are the relup's, in order, for a hot upgrade.
	Instructions []string `json:"instructions,omitempty"`
	// RelupOnDevice: the bundle carries appups but no relup from the
	// running version; the node makes it once the release is unpacked.
	RelupOnDevice bool `json:"relup_on_device,omitempty"`
	// leftover: the version is on the node, unpacked by an attempt that
	// failed and could not clean up.
	leftover bool
}

// preflight decides how to upgrade and clears what an earlier attempt
// left unpacked.
func (u *Updater) preflight(ctx context.Context, op *Operation, files *otprel.ReleaseFiles) error {
	d, err := u.decide(ctx, op, files)
	if err != nil {
		return err
	}
	if d.leftover {
		// unpack_release would fail with existing_release.
		u.Log("removing %s %s left unpacked by an earlier attempt", op.Name, op.Version)
		u.removeRelease(ctx, op.Version)
	}
	switch d.Path {
	case "back":
		u.Log("preflight: %s %s is on the node (old); going back to it", op.Name, op.Version)
		op.NodePid, err = u.node.OSPid(ctx)
		return err
	case "cold":
		u.Log("preflight: cold upgrade %s -> %s: %s", op.From, op.Version, strings.Join(d.Reasons, "; "))
	default:
		u.Log("preflight: hot upgrade %s -> %s", op.From, op.Version)
	}
	return nil
}

// decide compares the running release with the new one and decides the
// path, changing nothing: op gets From, FromERTS and Mode. Changes that
// must never be hot-upgraded make it cold, or refused when the manifest
// asks for hot.
func (u *Updater) decide(ctx context.Context, op *Operation, files *otprel.ReleaseFiles) (*Decision, error) {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking the node for its releases: %w", err)
	}
	running, ok := beam.Current(rels)
	if !ok {
		return nil, fmt.Errorf("the node reports no permanent release")
	}
	op.From = running.Version
	if running.Name != op.Name {
		return nil, reject("bundle is release %q, the node runs %q", op.Name, running.Name)
	}
	d := &Decision{}
	for _, r := range rels {
		switch {
		case r.Version != op.Version:
		case r.Status == "old" && op.Downgrade:
			op.Mode, d.Path = "back", "back"
			return d, nil
		case r.Status != "unpacked":
			return nil, reject("%s %s is already on the node (%s); a version number is never reused", op.Name, op.Version, r.Status)
		default:
			d.leftover = true
		}
	}
	if err := u.checkOrder(op, running); err != nil {
		return nil, err
	}
	if running.Status == "current" {
		return nil, reject("%s %s is installed but not permanent; commit or roll it back first", running.Name, running.Version)
	}
	if len(op.UpgradeFrom) > 0 && !slices.Contains(op.UpgradeFrom, running.Version) {
		return nil, reject("bundle upgrades from %v, the node runs %s", op.UpgradeFrom, running.Version)
	}
	if err := u.checkHealthFunction(ctx, files); err != nil {
		return nil, err
	}
	old, err := otprel.ReadInstalled(u.cfg.Root, running.Name, running.Version)
	if err != nil {
		return nil, fmt.Errorf("reading the running release: %w", err)
	}
	op.FromERTS = old.ERTS
	d.Reasons = ColdReasons(old, files)
	switch {
	case len(d.Reasons) == 0 && op.Mode != "cold" && relupOnDevice(old, files):
		op.Mode, d.Path, op.MakeRelup, d.RelupOnDevice = "hot", "hot", true, true
	case len(d.Reasons) == 0 && op.Mode != "cold":
		op.Mode, d.Path = "hot", "hot"
		instrs, err := otprel.RelupInstructions(files.Relup, old.Version, true)
		if err != nil {
			return nil, fmt.Errorf("reading the relup: %w", err)
		}
		for _, in := range instrs {
			d.Instructions = append(d.Instructions, otprel.Format(in))
		}
	case op.Mode == "hot":
		return nil, reject("hot upgrade refused: %s", strings.Join(d.Reasons, "; "))
	default:
		if len(d.Reasons) == 0 {
			d.Reasons = []string{"the manifest asks for mode cold"}
		}
		op.Mode, d.Path = "cold", "cold"
	}
	return d, nil
}

// ColdReasons lists why going from old to new cannot be a hot upgrade: the
// changes OTP's release_handler cannot apply to a running node safely.
func ColdReasons(old, new *otprel.ReleaseFiles) []string {
	reasons := bootReasons(old, new)
	if relupOnDevice(old, new) {
		// Made on the device from the appups (unpack), after which the
		// relup's own instructions are checked as any other's.
	} else if new.RelupFrom == nil {
		reasons = append(reasons, "the release has no relup (and no appup for every changed application)")
	} else if !slices.Contains(new.RelupFrom, old.Version) {
		reasons = append(reasons, fmt.Sprintf("the relup has no upgrade from %s (only %v)", old.Version, new.RelupFrom))
	} else if instrs, err := otprel.RelupInstructions(new.Relup, old.Version, true); err != nil {
		reasons = append(reasons, fmt.Sprintf("the relup cannot be read: %v", err))
	} else {
		// release_handler performs these only through heart.
		for _, in := range instrs {
			if a, ok := in.(otprel.Atom); ok && (a == "restart_emulator" || a == "restart_new_emulator") {
				reasons = append(reasons, "the relup restarts the emulator ("+string(a)+")")
			}
		}
	}
	return reasons
}

// relupOnDevice says whether new has no relup from old but carries an
// appup for every application that changed: the node makes the relup
// (systools:make_relup) once new is unpacked.
func relupOnDevice(old, new *otprel.ReleaseFiles) bool {
	return !slices.Contains(new.RelupFrom, old.Version) && new.HasAppups(old)
}

// bootReasons lists the changes between two releases that only a boot
// applies, whichever way the relup goes: a hot downgrade across them is
// as unsafe as a hot upgrade.
func bootReasons(old, new *otprel.ReleaseFiles) []string {
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
func (u *Updater) checkHealthFunction(ctx context.Context, files *otprel.ReleaseFiles) error {
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

// checkOrder refuses a release older than the permanent one unless its
// bundle was signed as a downgrade: the cold path can boot any version,
// and an old signed bundle must not take a device back by itself.
func (u *Updater) checkOrder(op *Operation, running beam.ReleaseStatus) error {
	isOlder, err := older(op.Version, running.Version)
	switch {
	case err != nil:
		u.Log("preflight: %v; not checked for a downgrade", err)
	case isOlder && !op.Downgrade:
		return reject("%s %s is older than the permanent %s; a downgrade must be signed as one (beamup bundle --downgrade)",
			op.Name, op.Version, running.Version)
	case isOlder:
		u.Log("preflight: a downgrade from %s to %s, signed as one", running.Version, op.Version)
	}
	return nil
}
