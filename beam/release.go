package beam

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// App is one application of a release.
type App struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Release is what a .rel file says.
type Release struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	ERTS    string `json:"erts"`
	Apps    []App  `json:"apps"`
}

// App returns the version of the named application, or "".
func (r Release) App(name string) string {
	for _, a := range r.Apps {
		if a.Name == name {
			return a.Version
		}
	}
	return ""
}

// ParseRel reads a .rel file: {release, {Name, Vsn}, {erts, ErtsVsn}, Apps}.
func ParseRel(data []byte) (Release, error) {
	terms, err := ParseTerms(string(data))
	if err != nil {
		return Release{}, fmt.Errorf("parsing .rel: %w", err)
	}
	bad := errors.New("not a {release, {Name, Vsn}, {erts, Vsn}, Apps} term")
	if len(terms) != 1 {
		return Release{}, bad
	}
	t, ok := terms[0].(Tuple)
	if !ok || len(t) != 4 || t[0] != Atom("release") {
		return Release{}, bad
	}
	nv, ok1 := t[1].(Tuple)
	erts, ok2 := t[2].(Tuple)
	apps, ok3 := t[3].(List)
	if !ok1 || !ok2 || !ok3 || len(nv) != 2 || len(erts) != 2 {
		return Release{}, bad
	}
	var r Release
	r.Name, ok1 = nv[0].(string)
	r.Version, ok2 = nv[1].(string)
	r.ERTS, ok3 = erts[1].(string)
	if !ok1 || !ok2 || !ok3 || r.Name == "" || r.Version == "" {
		return Release{}, bad
	}
	for _, a := range apps {
		at, ok := a.(Tuple)
		if !ok || len(at) < 2 {
			return Release{}, bad
		}
		name, ok1 := at[0].(Atom)
		vsn, ok2 := at[1].(string)
		if !ok1 || !ok2 {
			return Release{}, bad
		}
		r.Apps = append(r.Apps, App{Name: string(name), Version: vsn})
	}
	return r, nil
}

// ReleaseFiles is what preflight compares between the running release and
// a new one: the .rel, the relup, the files that configure the runtime and
// the native code each application ships.
type ReleaseFiles struct {
	Release
	RelData []byte
	// RelupFrom lists the versions the relup upgrades from; nil when the
	// release has no relup.
	RelupFrom []string
	// ERTSIncluded says whether the tarball carries its own erts-VSN.
	ERTSIncluded bool
	// Config holds the SHA-256 of the runtime configuration files found in
	// releases/VSN: sys.config, vm.args, runtime.exs, env.sh.
	Config map[string][32]byte
	// Native holds the SHA-256 of native code under each application's
	// priv directory, keyed by "app/priv/..." without the version.
	Native map[string][32]byte
}

var configFiles = map[string]bool{"sys.config": true, "vm.args": true, "runtime.exs": true, "env.sh": true}

func isNative(name string) bool {
	return strings.HasSuffix(name, ".so") || strings.HasSuffix(name, ".dll")
}

// ReadTarball reads a gzipped release tarball in one pass.
func ReadTarball(r io.Reader) (*ReleaseFiles, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("reading release tarball: %w", err)
	}
	files := newReleaseFiles()
	var relups = map[string][]byte{}
	var rels = map[string][]byte{} // releases/VSN/NAME.rel by VSN
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading release tarball: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		parts := strings.Split(name, "/")
		switch {
		case strings.HasPrefix(parts[0], "erts-"):
			files.ERTSIncluded = true
		case len(parts) == 3 && parts[0] == "releases" && strings.HasSuffix(parts[2], ".rel"):
			rels[parts[1]], err = readLimited(tr, name)
		case len(parts) == 3 && parts[0] == "releases" && parts[2] == "relup":
			relups[parts[1]], err = readLimited(tr, name)
		case len(parts) == 3 && parts[0] == "releases" && configFiles[parts[2]]:
			files.Config[parts[1]+"/"+parts[2]] = hashReader(tr)
		case len(parts) >= 4 && parts[0] == "lib" && parts[2] == "priv" && isNative(name) && h.Typeflag == tar.TypeReg:
			files.Native[appKey(parts)] = hashReader(tr)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(rels) != 1 {
		return nil, fmt.Errorf("release tarball: want exactly one releases/VSN/NAME.rel, found %d", len(rels))
	}
	for vsn, data := range rels {
		if files.Release, err = ParseRel(data); err != nil {
			return nil, fmt.Errorf("release tarball: releases/%s: %w", vsn, err)
		}
		if files.Version != vsn {
			return nil, fmt.Errorf("release tarball: releases/%s holds a .rel of version %s", vsn, files.Version)
		}
		files.RelData = data
		if relup, ok := relups[vsn]; ok {
			if files.RelupFrom, err = parseRelupFrom(relup); err != nil {
				return nil, fmt.Errorf("release tarball: releases/%s/relup: %w", vsn, err)
			}
		}
	}
	// Config keys are relative to releases/VSN.
	cfg := map[string][32]byte{}
	for k, v := range files.Config {
		if vsn, name, _ := strings.Cut(k, "/"); vsn == files.Version {
			cfg[name] = v
		}
	}
	files.Config = cfg
	return files, nil
}

// ReadInstalled reads the files of an installed release in a target
// system's root directory.
func ReadInstalled(root, name, vsn string) (*ReleaseFiles, error) {
	files := newReleaseFiles()
	relDir := filepath.Join(root, "releases", vsn)
	data, err := os.ReadFile(filepath.Join(relDir, name+".rel"))
	if err != nil {
		return nil, fmt.Errorf("reading installed release: %w", err)
	}
	if files.Release, err = ParseRel(data); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(relDir, name+".rel"), err)
	}
	files.RelData = data
	if relup, err := os.ReadFile(filepath.Join(relDir, "relup")); err == nil {
		if files.RelupFrom, err = parseRelupFrom(relup); err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Join(relDir, "relup"), err)
		}
	}
	for c := range configFiles {
		if f, err := os.Open(filepath.Join(relDir, c)); err == nil {
			files.Config[c] = hashReader(f)
			f.Close()
		}
	}
	_, err = os.Stat(filepath.Join(root, "erts-"+files.ERTS))
	files.ERTSIncluded = err == nil
	for _, app := range files.Apps {
		priv := filepath.Join(root, "lib", app.Name+"-"+app.Version, "priv")
		filepath.WalkDir(priv, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || !isNative(p) {
				return nil
			}
			rel, _ := filepath.Rel(filepath.Join(root, "lib"), p)
			if f, err := os.Open(p); err == nil {
				files.Native[appKey(strings.Split(filepath.ToSlash(rel), "/"))] = hashReader(f)
				f.Close()
			}
			return nil
		})
	}
	return files, nil
}

func newReleaseFiles() *ReleaseFiles {
	return &ReleaseFiles{Config: map[string][32]byte{}, Native: map[string][32]byte{}}
}

// appKey turns lib/app-1.0/priv/x.so (or app-1.0/priv/x.so) into app/priv/x.so.
func appKey(parts []string) string {
	if parts[0] == "lib" {
		parts = parts[1:]
	}
	app := parts[0]
	if i := strings.LastIndexByte(app, '-'); i > 0 {
		app = app[:i]
	}
	return app + "/" + strings.Join(parts[1:], "/")
}

func hashReader(r io.Reader) [32]byte {
	h := sha256.New()
	io.Copy(h, r)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// readLimited reads a small metadata file from a tarball.
func readLimited(r io.Reader, name string) ([]byte, error) {
	const max = 16 << 20
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, max)
	}
	return data, nil
}

// parseRelupFrom reads {Vsn, [{UpFrom, Descr, Instrs}], Down} and returns
// the UpFrom versions.
func parseRelupFrom(data []byte) ([]string, error) {
	terms, err := ParseTerms(string(data))
	if err != nil {
		return nil, err
	}
	if len(terms) != 1 {
		return nil, errors.New("want one term")
	}
	t, ok := terms[0].(Tuple)
	if !ok || len(t) != 3 {
		return nil, errors.New("not a {Vsn, Up, Down} term")
	}
	ups, ok := t[1].(List)
	if !ok {
		return nil, errors.New("upgrade list is not a list")
	}
	from := []string{}
	for _, u := range ups {
		ut, ok := u.(Tuple)
		if !ok || len(ut) != 3 {
			return nil, errors.New("upgrade entry is not {Vsn, Descr, Instructions}")
		}
		vsn, ok := ut[0].(string)
		if !ok {
			return nil, errors.New("upgrade entry has no version string")
		}
		from = append(from, vsn)
	}
	return from, nil
}
