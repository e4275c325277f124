package otprel

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// App is one application of a release.
type App struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Type is the start type the .rel gives: permanent (the default),
	// transient, temporary, load or none.
	Type string `json:"type,omitempty"`
	// Included lists the applications it includes, from the .rel or, when
	// the .rel says nothing, its .app file's included_applications.
	Included []string `json:"included,omitempty"`
}

// Started says whether a boot of the release starts the application:
// load and none only load it (mix lists iex as none), and an included
// application is started by the application that includes it.
func (r Release) Started(a App) bool {
	if a.Type == "load" || a.Type == "none" {
		return false
	}
	for _, o := range r.Apps {
		if slices.Contains(o.Included, a.Name) {
			return false
		}
	}
	return true
}

// NotStarted lists, as APP-VSN, the applications the release starts that
// running (application:which_applications/0) does not list in their
// version.
func (r Release) NotStarted(running []App) []string {
	has := map[string]string{}
	for _, a := range running {
		has[a.Name] = a.Version
	}
	var missing []string
	for _, a := range r.Apps {
		if r.Started(a) && has[a.Name] != a.Version {
			missing = append(missing, a.Name+"-"+a.Version)
		}
	}
	return missing
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
		app, ok := relApp(a)
		if !ok {
			return Release{}, bad
		}
		r.Apps = append(r.Apps, app)
	}
	return r, nil
}

// relApp reads {App, Vsn}, {App, Vsn, Type}, {App, Vsn, IncApps} or
// {App, Vsn, Type, IncApps}.
func relApp(t any) (App, bool) {
	at, ok := t.(Tuple)
	if !ok || len(at) < 2 || len(at) > 4 {
		return App{}, false
	}
	name, ok1 := at[0].(Atom)
	vsn, ok2 := at[1].(string)
	if !ok1 || !ok2 {
		return App{}, false
	}
	app := App{Name: string(name), Version: vsn, Type: "permanent"}
	for _, e := range at[2:] {
		switch v := e.(type) {
		case Atom:
			app.Type = string(v)
		case List:
			app.Included = atoms(v)
			if app.Included == nil {
				app.Included = []string{}
			}
		case string: // [] reads as ""
		default:
			return App{}, false
		}
	}
	return app, true
}

func atoms(l List) []string {
	var out []string
	for _, e := range l {
		if a, ok := e.(Atom); ok {
			out = append(out, string(a))
		}
	}
	return out
}

// addAppFile takes included_applications from an application's .app
// file, {application, App, Props}, unless the .rel already said.
func (files *ReleaseFiles) addAppFile(data []byte) {
	terms, err := ParseTerms(string(data))
	if err != nil || len(terms) != 1 {
		return
	}
	t, ok := terms[0].(Tuple)
	if !ok || len(t) != 3 || t[0] != Atom("application") {
		return
	}
	props, _ := t[2].(List)
	for i := range files.Apps {
		a := &files.Apps[i]
		if Atom(a.Name) != t[1] || a.Included != nil {
			continue
		}
		for _, p := range props {
			if kv, ok := p.(Tuple); ok && len(kv) == 2 && kv[0] == Atom("included_applications") {
				if l, ok := kv[1].(List); ok {
					a.Included = atoms(l)
				}
			}
		}
	}
}

// ReleaseFiles is what preflight compares between the running release and
// a new one: the .rel, the relup, the files that configure the runtime and
// the native code each application ships.
type ReleaseFiles struct {
	Release
	RelData []byte
	// RelFile is where the .rel was found: a tarball member, or a path
	// under the release root. OTP leaves its name to the user (systools
	// names it after the file it was made from, mix and rebar3 NAME.rel).
	RelFile string
	// RelupFrom lists the versions the relup upgrades from; nil when the
	// release has no relup.
	RelupFrom []string
	// Relup is the relup file; nil when there is none.
	Relup []byte
	// ERTSIncluded says whether the tarball carries its own erts-VSN.
	ERTSIncluded bool
	// Config holds the SHA-256 of the runtime configuration files found in
	// releases/VSN: sys.config, vm.args, runtime.exs, env.sh, and relx's
	// templates vm.args.src and sys.config.src.
	Config map[string][32]byte
	// Modules holds the names of the modules the release's applications
	// carry (their ebin/*.beam files).
	Modules map[string]bool
	// Appups holds, for each lib/APP-VSN directory that carries
	// APP.appup, the versions its upgrade instructions are for (a version,
	// or a regular expression, as appups allow).
	Appups map[string][]string
	// Native holds the SHA-256 of native code under each application's
	// priv directory, keyed by "app/priv/..." without the version.
	Native map[string][32]byte
	// Sums holds the size and SHA-256 of every regular file of a tarball
	// (of those its sink took, with ReadTarballTo), by its path in the
	// release: what unpacking it must leave on disk.
	Sums map[string]Sum
}

// Sum is a file's size and SHA-256.
type Sum struct {
	Size   int64
	SHA256 [32]byte
}

var configFiles = map[string]bool{"sys.config": true, "vm.args": true, "vm.args.src": true,
	"sys.config.src": true, "runtime.exs": true, "env.sh": true}

func isNative(name string) bool {
	return strings.HasSuffix(name, ".so") || strings.HasSuffix(name, ".dll")
}

// ReadTarball reads a release tarball, gzipped or not, in one pass.
func ReadTarball(r io.Reader) (*ReleaseFiles, error) { return ReadTarballTo(r, nil) }

// Sink is told of each member of a tarball as ReadTarballTo reads it,
// after the member's checks, and returns where its bytes go: nil for
// nowhere.
type Sink func(h *tar.Header, name string) (io.Writer, error)

// ReadTarballTo reads a release tarball as ReadTarball does, and gives
// each member's bytes to what sink returns for it, in the same pass: a
// release is laid out as it is read.
func ReadTarballTo(r io.Reader, sink Sink) (*ReleaseFiles, error) {
	zr, err := Uncompressed(r)
	if err != nil {
		return nil, fmt.Errorf("reading release tarball: %w", err)
	}
	c := NewCollector(sink)
	members := tar.NewReader(zr)
	for {
		h, err := members.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading release tarball: %w", err)
		}
		w, err := c.Next(h)
		if err != nil {
			return nil, err
		}
		// What nothing wants is read past, not checked again.
		if w != nil {
			if _, err := io.Copy(w, members); err != nil {
				return nil, fmt.Errorf("reading release tarball: %w", err)
			}
		}
	}
	return c.Close()
}

// ReadInstalled reads the files of an installed release in a target
// system's root directory.
func ReadInstalled(root, name, vsn string) (*ReleaseFiles, error) {
	files := newReleaseFiles()
	relDir := filepath.Join(root, "releases", vsn)
	// The .rel of an installed release is releases/VSN/*.rel, whatever its
	// name; release_handler also keeps releases/NAME-VSN.rel while a
	// release is unpacked.
	paths, _ := filepath.Glob(filepath.Join(relDir, "*.rel"))
	paths = append(paths, filepath.Join(root, "releases", name+"-"+vsn+".rel"))
	rels := map[string][]byte{}
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			rels[p] = data
		}
	}
	if err := files.pickRel(rels, name); err != nil {
		return nil, fmt.Errorf("reading installed release %s %s: %w", name, vsn, err)
	}
	if files.Version != vsn {
		return nil, fmt.Errorf("reading installed release %s %s: %s is of version %s", name, vsn, files.RelFile, files.Version)
	}
	if relup, err := os.ReadFile(filepath.Join(relDir, "relup")); err == nil {
		files.Relup = relup
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
	for _, app := range files.Apps {
		if data, err := os.ReadFile(filepath.Join(root, "lib", app.Name+"-"+app.Version, "ebin", app.Name+".app")); err == nil {
			files.addAppFile(data)
		}
	}
	_, err := os.Stat(filepath.Join(root, "erts-"+files.ERTS))
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

// pickRel chooses the release's .rel among rels (by path): the one whose
// version is its directory's (releases/VSN/), of the release name when
// name is set. Files that are not a release's .rel are passed over.
func (files *ReleaseFiles) pickRel(rels map[string][]byte, name string) error {
	var found string // the path of the .rel picked
	var firstErr error
	paths := make([]string, 0, len(rels))
	for p := range rels {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		rel, err := ParseRel(rels[p])
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", p, err)
			}
			continue
		}
		dir := filepath.Base(filepath.Dir(p))
		if dir != "releases" && dir != rel.Version {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s holds a .rel of version %s", p, rel.Version)
			}
			continue
		}
		if name != "" && rel.Name != name {
			continue
		}
		if found != "" {
			if rel.Name == files.Name && rel.Version == files.Version {
				continue // the same release under two names
			}
			return fmt.Errorf("more than one release: %s and %s", found, p)
		}
		files.Release, files.RelData, files.RelFile = rel, rels[p], p
		found = p
	}
	switch {
	case found != "":
		return nil
	case firstErr != nil:
		return firstErr
	case name != "":
		return fmt.Errorf("no .rel of release %s under releases/", name)
	default:
		return errors.New("no releases/VSN/*.rel")
	}
}

// checkShape refuses a tarball that release_handler could not install:
// it needs sasl (release_handler is part of it), the release's boot file
// and the directory of every application the .rel names.
func (files *ReleaseFiles) checkShape(libs, boots map[string]bool) error {
	if files.App("sasl") == "" {
		return fmt.Errorf("%s %s does not include sasl, whose release_handler installs upgrades; add sasl to the release", files.Name, files.Version)
	}
	if !boots[files.Version] {
		return fmt.Errorf("no releases/%s/start.boot, the boot file of %s %s", files.Version, files.Name, files.Version)
	}
	var missing []string
	for _, a := range files.Apps {
		if !libs[a.Name+"-"+a.Version] {
			missing = append(missing, "lib/"+a.Name+"-"+a.Version)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s %s names applications the tarball does not carry: %s", files.Name, files.Version, strings.Join(missing, ", "))
	}
	return nil
}

func newReleaseFiles() *ReleaseFiles {
	return &ReleaseFiles{Config: map[string][32]byte{}, Native: map[string][32]byte{}, Modules: map[string]bool{}, Appups: map[string][]string{}, Sums: map[string]Sum{}}
}

// HasAppups says whether the release carries an appup for each of its
// applications whose version differs from old's (the relup can then be
// made from them).
func (f *ReleaseFiles) HasAppups(old *ReleaseFiles) bool {
	for _, a := range f.Apps {
		v := old.App(a.Name)
		if v == "" || v == a.Version {
			continue
		}
		from, ok := f.Appups[a.Name+"-"+a.Version]
		if !ok || !slices.ContainsFunc(from, func(p string) bool { return versionMatches(p, v) }) {
			return false
		}
	}
	return true
}

// appupFrom reads the versions an appup upgrades from: strings, or
// binaries that are regular expressions. A file that does not read gives
// none.
func appupFrom(data []byte) []string {
	terms, err := ParseTerms(string(data))
	if err != nil || len(terms) != 1 {
		return nil
	}
	t, ok := terms[0].(Tuple)
	if !ok || len(t) != 3 {
		return nil
	}
	up, _ := t[1].(List)
	var from []string
	for _, e := range up {
		et, ok := e.(Tuple)
		if !ok || len(et) != 2 {
			continue
		}
		switch v := et[0].(type) {
		case string:
			from = append(from, v)
		case Binary:
			from = append(from, "re:"+string(v))
		}
	}
	return from
}

// versionMatches says whether an appup's "from" p covers version v: the
// same string, or a regular expression (marked "re:") that matches all of
// v, as release_handler matches it.
func versionMatches(p, v string) bool {
	re, ok := strings.CutPrefix(p, "re:")
	if !ok {
		return p == v
	}
	r, err := regexp.Compile("^(?:" + re + ")$")
	return err == nil && r.MatchString(v)
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

// parseRelupFrom reads {Vsn, [{UpFrom, Descr, Instrs}], Down} and returns
// the UpFrom versions.
func parseRelupFrom(data []byte) ([]string, error) {
	t, err := relupTerm(data)
	if err != nil {
		return nil, err
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

// relupTerm reads a relup file's one {Vsn, Up, Down} term.
func relupTerm(data []byte) (Tuple, error) {
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
	return t, nil
}

// RelupInstructions returns the low-level instructions of the relup in
// data that go from the version from: an upgrade when up, else a
// downgrade.
func RelupInstructions(data []byte, from string, up bool) (List, error) {
	t, err := relupTerm(data)
	if err != nil {
		return nil, err
	}
	side := t[1]
	if !up {
		side = t[2]
	}
	entries, _ := side.(List)
	for _, e := range entries {
		if et, ok := e.(Tuple); ok && len(et) == 3 && et[0] == from {
			instrs, _ := et[2].(List)
			return instrs, nil
		}
	}
	return nil, fmt.Errorf("no entry for %s", from)
}

// PostPurged lists the modules that instrs load with the post-purge
// method ({load, {Mod, Pre, Post}}). For brutal_purge, make_permanent
// purges their old code and kills the processes that still run it, as the
// appup asks; for soft_purge, release_handler purges it once no process
// runs it, and kills none.
func PostPurged(instrs List, method string) []string {
	var mods []string
	for _, i := range instrs {
		t, ok := i.(Tuple)
		if !ok || len(t) != 2 || t[0] != Atom("load") {
			continue
		}
		if l, ok := t[1].(Tuple); ok && len(l) == 3 && l[2] == Atom(method) {
			if m, ok := l[0].(Atom); ok {
				mods = append(mods, string(m))
			}
		}
	}
	return mods
}
