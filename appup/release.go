package appup

import (
	"archive/tar"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/beamup/beamup/beamfile"
	"github.com/beamup/beamup/otprel"
)

// Release is a release's applications, each in the version the release
// runs, with its modules.
type Release struct {
	Name, Version string
	Apps          map[string]Version // by application name
}

// maxBeam bounds one BEAM file read from a release.
const maxBeam = 64 << 20

// ReadRelease reads a release tarball (mix, rebar3, systools) or a
// release directory (a target system, or _build/.../rel/NAME).
func ReadRelease(p string) (*Release, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return readDir(p)
	}
	return readTarball(p)
}

func newRelease(files *otprel.ReleaseFiles) *Release {
	r := &Release{Name: files.Name, Version: files.Version, Apps: map[string]Version{}}
	for _, a := range files.Apps {
		r.Apps[a.Name] = Version{Vsn: a.Version, Modules: map[string]*beamfile.Module{}}
	}
	return r
}

// add records the BEAM file at lib/APP-VSN/ebin/NAME.beam when APP-VSN is
// an application of the release.
func (r *Release) add(name string, data []byte) error {
	parts := strings.Split(path.Clean(name), "/")
	if len(parts) != 4 || parts[0] != "lib" || parts[2] != "ebin" || !strings.HasSuffix(parts[3], ".beam") {
		return nil
	}
	for app, v := range r.Apps {
		if parts[1] != app+"-"+v.Vsn {
			continue
		}
		m, err := beamfile.Read(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		v.Modules[m.Name] = m
	}
	return nil
}

func readTarball(p string) (*Release, error) {
	isBeam := func(name string) bool { return strings.HasSuffix(name, ".beam") }
	files, members, err := otprel.ReadTarballFile(p, isBeam)
	if err != nil {
		return nil, err
	}
	r := newRelease(files)
	for _, m := range members {
		if !isBeam(m.Name) || m.Header.Typeflag != tar.TypeReg {
			continue
		}
		if len(m.Data) > maxBeam {
			return nil, fmt.Errorf("%s: %s is larger than %d bytes", p, m.Name, maxBeam)
		}
		if err := r.add(m.Name, m.Data); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return r, nil
}

// readDir reads a release directory: the release of releases/VSN when
// there is one, else the one releases/start_erl.data names.
func readDir(dir string) (*Release, error) {
	vsn, err := otprel.InstalledVersion(dir)
	if err != nil {
		return nil, err
	}
	rels, _ := filepath.Glob(filepath.Join(dir, "releases", vsn, "*.rel"))
	if len(rels) == 0 {
		return nil, fmt.Errorf("%s: no .rel in releases/%s", dir, vsn)
	}
	data, err := os.ReadFile(rels[0])
	if err != nil {
		return nil, err
	}
	rel, err := otprel.ParseRel(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rels[0], err)
	}
	r := newRelease(&otprel.ReleaseFiles{Release: rel})
	for app, v := range r.Apps {
		beams, _ := filepath.Glob(filepath.Join(dir, "lib", app+"-"+v.Vsn, "ebin", "*.beam"))
		for _, b := range beams {
			data, err := os.ReadFile(b)
			if err != nil {
				return nil, err
			}
			if err := r.add(filepath.Join("lib", app+"-"+v.Vsn, "ebin", filepath.Base(b)), data); err != nil {
				return nil, fmt.Errorf("%s: %w", dir, err)
			}
		}
	}
	return r, nil
}

// Changed makes the appups of the applications whose version differs
// between old and new, by application name.
func Changed(old, new *Release) []*Appup {
	var out []*Appup
	for _, name := range sortedKeys(new.Apps) {
		nv := new.Apps[name]
		ov, ok := old.Apps[name]
		if !ok || ov.Vsn == nv.Vsn {
			continue // added (the relup starts it) or unchanged
		}
		out = append(out, Make(name, ov, nv))
	}
	return out
}

func sortedKeys(m map[string]Version) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
