// Package relup makes the relup of a release tarball on the build host:
// the appups the new release lacks come from package appup, the relup
// from OTP's own systools:make_relup (run by erl), and a new tarball
// carries both, so that the bundle made from it upgrades hot from the
// release that runs.
package relup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/beamup/beamup/appup"
	"github.com/beamup/beamup/otprel"
)

// Made is what Make did.
type Made struct {
	// Tarball is the new release tarball, with the relup and appups.
	Tarball string
	// Generated lists the .appup files beamup wrote (an application that
	// shipped its own keeps it).
	Generated []string
	// Cycles lists, by application, modules that call each other.
	Cycles map[string][][]string
}

// Make writes into dir a copy of the release tarball newTar whose
// releases/VSN/relup upgrades from, and downgrades to, the release of
// oldTar. It needs erl on the PATH.
func Make(ctx context.Context, oldTar, newTar, dir string) (*Made, error) {
	if _, err := exec.LookPath("erl"); err != nil {
		return nil, fmt.Errorf("making a relup needs Erlang/OTP's erl on this host (apt-get install erlang-nox): %w", err)
	}
	work, err := os.MkdirTemp(dir, "relup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	oldDir, newDir := filepath.Join(work, "old"), filepath.Join(work, "new")
	oldFiles, err := otprel.Extract(oldTar, oldDir)
	if err != nil {
		return nil, err
	}
	newFiles, err := otprel.Extract(newTar, newDir)
	if err != nil {
		return nil, err
	}
	if oldFiles.Name != newFiles.Name {
		return nil, fmt.Errorf("%s is release %s, %s is %s", oldTar, oldFiles.Name, newTar, newFiles.Name)
	}
	// The BEAM files from what was just extracted, not the tarballs again.
	oldRel, err := appup.ReadRelease(oldDir)
	if err != nil {
		return nil, err
	}
	newRel, err := appup.ReadRelease(newDir)
	if err != nil {
		return nil, err
	}
	made := &Made{Cycles: map[string][][]string{}}
	extra := map[string][]byte{} // members to add to the new tarball
	for _, a := range appup.Changed(oldRel, newRel) {
		member := path.Join("lib", a.App+"-"+a.New, "ebin", a.App+".appup")
		if _, err := os.Stat(filepath.Join(newDir, member)); err == nil {
			continue // the application's own
		}
		if err := os.WriteFile(filepath.Join(newDir, member), []byte(a.Format()), 0o644); err != nil {
			return nil, err
		}
		extra[member] = []byte(a.Format())
		made.Generated = append(made.Generated, member)
		if len(a.Cycles) > 0 {
			made.Cycles[a.App] = a.Cycles
		}
	}
	relup, err := systools(ctx, work, filepath.Join(oldDir, oldFiles.RelFile), filepath.Join(newDir, newFiles.RelFile), oldDir, newDir)
	if err != nil {
		return nil, err
	}
	extra[path.Join("releases", newFiles.Version, "relup")] = relup
	made.Tarball = filepath.Join(dir, filepath.Base(newTar))
	if made.Tarball == newTar {
		made.Tarball = filepath.Join(dir, strings.TrimSuffix(filepath.Base(newTar), ".tar.gz")+"-relup.tar.gz")
	}
	return made, rewrite(newTar, made.Tarball, extra)
}

// systools runs systools:make_relup for the two .rel files, with both
// releases' applications on the code path, and returns the relup.
func systools(ctx context.Context, work, oldRel, newRel, oldDir, newDir string) ([]byte, error) {
	var paths []string
	for _, d := range []string{newDir, oldDir} {
		ebins, _ := filepath.Glob(filepath.Join(d, "lib", "*", "ebin"))
		paths = append(paths, ebins...)
	}
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	script := fmt.Sprintf(`case systools:make_relup(%q, [%q], [%q], [{path, [%s]}, {outdir, %q}, silent]) of
	    {ok, _, _, _} -> halt(0);
	    {error, Mod, Why} -> io:format(standard_error, "~ts~n", [Mod:format_error(Why)]), halt(1);
	    Other -> io:format(standard_error, "~p~n", [Other]), halt(1)
	end.`, strings.TrimSuffix(newRel, ".rel"), strings.TrimSuffix(oldRel, ".rel"), strings.TrimSuffix(oldRel, ".rel"),
		strings.Join(quoted, ","), work)
	cmd := exec.CommandContext(ctx, "erl", "-noshell", "-boot", "start_clean", "-eval", script)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("systools:make_relup: %s", strings.TrimSpace(string(out)))
	}
	return os.ReadFile(filepath.Join(work, "relup"))
}

// rewrite copies the tarball src to dst with the members of extra added,
// or in place of those of the same name.
func rewrite(src, dst string, extra map[string][]byte) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	err = otprel.EachMember(in, func(h *tar.Header, r io.Reader) error {
		if _, replaced := extra[path.Clean(strings.TrimPrefix(h.Name, "./"))]; replaced {
			return nil
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		data := extra[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(dst, b.Bytes(), 0o644)
}
