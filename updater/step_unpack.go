package updater

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/failpoint"
	"github.com/beamup/beamup/otprel"
)

// unpack prepares RELEASES, unpacks the release, checks that every file
// it wrote is the bundle's, and that it can be installed over the running
// one.
func (u *Updater) unpack(ctx context.Context, op *Operation, files *otprel.ReleaseFiles) error {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return err
	}
	running, _ := beam.Current(rels)
	if err := u.prepareRELEASES(ctx, running); err != nil {
		return err
	}
	if registered(rels, op.Version) {
		return fmt.Errorf("release %s is on the node already", op.Version)
	}
	// The release was laid out as it verified: release_handler registers
	// it as unpack_release would have after extracting it.
	if _, err := u.node.SetUnpacked(ctx, u.relFile(op)); err != nil {
		return fmt.Errorf("unpacking: %w", err)
	}
	u.registeredLayout()
	u.Log("unpacked %s %s", op.Name, op.Version)
	failpoint.Hit("unpacked")
	if err := u.checkUnpacked(op, files); err != nil {
		return err
	}
	if op.MakeRelup {
		if err := u.makeRelup(ctx, op); err != nil {
			return err
		}
	}
	if op.Mode == "cold" {
		// check_install_release reads the relup, which a cold upgrade
		// does not use and may not have.
		return nil
	}
	// The node's boot is asked beside the check, which it does not
	// change: each is a call of its own on the node.
	var inc string
	var incErr error
	var asked sync.WaitGroup
	asked.Go(func() { inc, incErr = u.node.Incarnation(ctx) })
	from, err := u.node.CheckInstallRelease(ctx, op.Version)
	asked.Wait()
	if err != nil {
		return fmt.Errorf("checking the install: %w", err)
	}
	if from != op.From {
		return fmt.Errorf("checking the install: it would upgrade from %s, the node runs %s", from, op.From)
	}
	if incErr != nil {
		return incErr
	}
	noteIncarnation(op, inc)
	return nil
}

// noteIncarnation records in op the boot of the node that install_release
// will run on (beam.Client.Incarnation's answer): entering the next step
// journals it before the call, and a revert tells from it whether the
// node restarted.
func noteIncarnation(op *Operation, inc string) {
	op.NodeBoot = inc
	op.NodePid, _, _ = strings.Cut(inc, "/")
}

// makeRelup has the node make the relup of the unpacked release from its
// appups, from and to the release that runs, as systools:make_relup does
// on a build host.
func (u *Updater) makeRelup(ctx context.Context, op *Operation) error {
	old, err := otprel.ReadInstalled(u.cfg.Root, op.Name, op.From)
	if err != nil {
		return fmt.Errorf("making the relup: %w", err)
	}
	new, err := otprel.ReadInstalled(u.cfg.Root, op.Name, op.Version)
	if err != nil {
		return fmt.Errorf("making the relup: %w", err)
	}
	if err := u.node.MakeRelup(ctx, u.cfg.Root, old.RelFile, new.RelFile); err != nil {
		return err
	}
	u.Log("made the relup %s -> %s from the appups", op.From, op.Version)
	return nil
}

// removeUnpacked removes, whole, what unpack_release may have extracted
// for op's release, whether or not release_handler registered it: an
// extraction cut short by a power cut leaves torn files, and
// release_handler extracts without overwriting, so that a retry would
// reuse them and the node would later fail to boot. What another release
// on the node uses stays; without the node's word nothing is removed.
// Since beamupd lays releases out itself (layout.go, which records and
// removes its own), this serves an unpack_release that an earlier
// beamupd began.
func (u *Updater) removeUnpacked(ctx context.Context, op *Operation) {
	data, err := os.ReadFile(u.releaseBase(op) + ".rel")
	if err != nil {
		return // copied before any unpack: nothing was extracted
	}
	rel, err := otprel.ParseRel(data)
	if err != nil {
		u.Log("cleanup: %v", err)
		return
	}
	used, err := u.usedByOthers(ctx, op.Version)
	if err != nil {
		u.Log("cleanup: %v; what unpack_release extracted stays", err)
		return
	}
	var gone []string
	for _, a := range rel.Apps {
		if d := a.Name + "-" + a.Version; !used[d] {
			gone = append(gone, filepath.Join("lib", d))
		}
	}
	if !used["erts-"+rel.ERTS] && len(used) > 0 {
		gone = append(gone, "erts-"+rel.ERTS)
	}
	gone = append(gone, filepath.Join("releases", op.Version))
	for _, d := range gone {
		p := filepath.Join(u.cfg.Root, d)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			u.Log("cleanup: %v", err)
		}
	}
}

// registered says whether release_handler knows release vsn.
func registered(rels []beam.ReleaseStatus, vsn string) bool {
	for _, r := range rels {
		if r.Version == vsn {
			return true
		}
	}
	return false
}

// usedByOthers names the lib/APP-VSN and erts-VSN directories that a
// release on the node other than release vsn uses, by their base names:
// those RELEASES lists, and those its .rel names (a mix release's node
// may run without RELEASES).
func (u *Updater) usedByOthers(ctx context.Context, vsn string) (map[string]bool, error) {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, r := range rels {
		if r.Version == vsn {
			continue
		}
		for _, l := range r.Libs {
			used[filepath.Base(l)] = true
		}
		f, err := otprel.ReadInstalled(u.cfg.Root, r.Name, r.Version)
		if err != nil {
			// Without its .rel, nothing can be said to be unused.
			return nil, fmt.Errorf("reading release %s: %w", r.Version, err)
		}
		used["erts-"+f.ERTS] = true
		for _, a := range f.Apps {
			used[a.Name+"-"+a.Version] = true
		}
	}
	return used, nil
}

// checkUnpacked compares every file the layout wrote into the release's
// directories (files.Sums holds what it wrote, read from the verified
// tarball as it went) with what is on disk, size and SHA-256, before the
// point of no return: a file torn or changed since never boots. The
// layout synced them already. Files it added elsewhere (bin/, the top of
// releases/) are the later steps' to rewrite, as unpack_release leaves
// them to be.
func (u *Updater) checkUnpacked(op *Operation, files *otprel.ReleaseFiles) error {
	if files == nil {
		return nil
	}
	root, err := os.OpenRoot(u.cfg.Root)
	if err != nil {
		return fmt.Errorf("checking the unpacked release: %w", err)
	}
	defer root.Close()
	checked := 0
	for name, want := range files.Sums {
		if !laidOut(name, op.Version, nil) {
			continue
		}
		if err := checkFile(root, name, want); err != nil {
			return fmt.Errorf("checking the unpacked release: %w", err)
		}
		checked++
	}
	u.Log("checked the %d files unpacking wrote against the bundle", checked)
	return nil
}

func checkFile(root *os.Root, name string, want otprel.Sum) error {
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	var got [32]byte
	h.Sum(got[:0])
	if n != want.Size || got != want.SHA256 {
		return fmt.Errorf("%s on disk (%d bytes, sha256 %.12x) is not the bundle's (%d bytes, %.12x)", name, n, got, want.Size, want.SHA256)
	}
	return nil
}

// laidOut says whether unpacking release vsn writes the tarball's file
// name: it is in a directory of its own (lib/APP-VSN and erts-VSN that no
// other release uses, by used, releases/VSN). Files in directories another
// release uses are kept as they are by release_handler.
func laidOut(name, vsn string, used map[string]bool) bool {
	parts := strings.SplitN(name, "/", 3)
	switch {
	case parts[0] == "lib" && len(parts) == 3:
		return !used[parts[1]]
	case parts[0] == "releases" && len(parts) == 3:
		return parts[1] == vsn
	case strings.HasPrefix(parts[0], "erts-") && len(parts) > 1:
		return !used[parts[0]]
	}
	return false
}
