// Package yocto holds meta-beamup, a Yocto layer for beamupd. This test
// checks what a parser can check without a Yocto build: required
// variables, the files recipes reference, the unit names against the
// shipped units, the license checksum, and the configuration template.
package yocto

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/beamup/beamup/config"
)

const layer = "meta-beamup"

// bbVars reads the assignments and inherits of a BitBake file: each
// variable (with its override, such as SYSTEMD_SERVICE:${PN}) and every
// value it is given, continuation lines joined.
func bbVars(t *testing.T, path string) (map[string][]string, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string][]string{}
	var inherits []string
	assign := regexp.MustCompile(`^([A-Za-z0-9_:${}.\-]+)\s*(\?\?=|\?=|:=|\+=|\.=|=)\s*"(.*)"\s*$`)
	sc := bufio.NewScanner(f)
	var logical string
	for sc.Scan() {
		l := sc.Text()
		if strings.HasSuffix(l, "\\") {
			logical += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		l, logical = logical+l, ""
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(l, "inherit "); ok {
			inherits = append(inherits, strings.Fields(rest)...)
			continue
		}
		if m := assign.FindStringSubmatch(l); m != nil {
			vars[m[1]] = append(vars[m[1]], strings.Join(strings.Fields(m[3]), " "))
		}
	}
	return vars, inherits
}

func one(t *testing.T, vars map[string][]string, name string) string {
	t.Helper()
	v := vars[name]
	if len(v) == 0 || v[0] == "" {
		t.Errorf("%s is not set", name)
		return ""
	}
	return v[0]
}

func TestLayerConf(t *testing.T) {
	vars, _ := bbVars(t, filepath.Join(layer, "conf", "layer.conf"))
	if one(t, vars, "BBFILE_COLLECTIONS") != "beamup" {
		t.Errorf("BBFILE_COLLECTIONS = %v", vars["BBFILE_COLLECTIONS"])
	}
	for _, v := range []string{"BBFILE_PATTERN_beamup", "BBFILE_PRIORITY_beamup", "LAYERSERIES_COMPAT_beamup", "LAYERDEPENDS_beamup", "BBFILES"} {
		one(t, vars, v)
	}
	// BBFILES finds every recipe of the layer.
	recipes, _ := filepath.Glob(filepath.Join(layer, "recipes-*", "*", "*.bb"))
	if len(recipes) < 2 || !strings.Contains(vars["BBFILES"][0], "recipes-*/*/*.bb") {
		t.Errorf("BBFILES %v does not find the recipes %v", vars["BBFILES"], recipes)
	}
}

// srcFiles are the file:// entries of SRC_URI.
func srcFiles(vars map[string][]string) []string {
	var files []string
	for _, v := range vars["SRC_URI"] {
		for _, f := range strings.Fields(v) {
			if name, ok := strings.CutPrefix(f, "file://"); ok {
				files = append(files, strings.SplitN(name, ";", 2)[0])
			}
		}
	}
	return files
}

// supplied are the files a user's bbappend brings, not the layer.
var supplied = map[string]bool{"app-${PV}.tar.gz": true}

func TestRecipes(t *testing.T) {
	recipes, _ := filepath.Glob(filepath.Join(layer, "recipes-*", "*", "*.bb"))
	for _, r := range recipes {
		vars, inherits := bbVars(t, r)
		for _, v := range []string{"SUMMARY", "LICENSE", "SRC_URI"} {
			one(t, vars, v)
		}
		for _, f := range srcFiles(vars) {
			if supplied[f] {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(r), "files", f)); err != nil {
				t.Errorf("%s: SRC_URI names file://%s, which is not in files/", r, f)
			}
		}
		units := strings.Fields(one(t, vars, "SYSTEMD_SERVICE:${PN}"))
		if !contains(inherits, "systemd") {
			t.Errorf("%s sets SYSTEMD_SERVICE but does not inherit systemd", r)
		}
		for _, u := range units {
			if _, err := os.Stat(filepath.Join("..", "systemd", u)); err != nil {
				t.Errorf("%s: unit %s is not one of the units in systemd/", r, u)
			}
		}
	}
}

func TestBeamupdRecipe(t *testing.T) {
	r := filepath.Join(layer, "recipes-beamup", "beamupd", "beamupd_git.bb")
	vars, inherits := bbVars(t, r)
	for _, c := range []string{"go-mod", "systemd"} {
		if !contains(inherits, c) {
			t.Errorf("the recipe does not inherit %s", c)
		}
	}
	mod, _ := os.ReadFile(filepath.Join("..", "go.mod"))
	if want := "module " + one(t, vars, "GO_IMPORT") + "\n"; !strings.HasPrefix(string(mod), want) {
		t.Errorf("GO_IMPORT %v is not go.mod's module", vars["GO_IMPORT"])
	}
	if one(t, vars, "GO_INSTALL") != "${GO_IMPORT}/cmd/beamupd" {
		t.Errorf("GO_INSTALL = %v", vars["GO_INSTALL"])
	}
	// LIC_FILES_CHKSUM holds the md5 of the repository's LICENSE.
	lic, _ := os.ReadFile(filepath.Join("..", "LICENSE"))
	sum := md5.Sum(lic)
	if chk := one(t, vars, "LIC_FILES_CHKSUM"); !strings.Contains(chk, "/LICENSE;md5="+hex.EncodeToString(sum[:])) {
		t.Errorf("LIC_FILES_CHKSUM %q does not match LICENSE (md5 %x)", chk, sum)
	}
	body, _ := os.ReadFile(r)
	for _, want := range []string{"${S}/src/${GO_IMPORT}/systemd/beamupd.service", "BEAMUP_PUBLIC_KEYS", "CGO_ENABLED = \"0\""} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the recipe does not mention %s", want)
		}
	}
}

// The configuration template, filled in the way do_install fills it, is a
// configuration beamupd accepts.
func TestConfigTemplate(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join(layer, "recipes-beamup", "beamupd", "files", "beamupd.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, broker := range []string{"mqtts://broker.example:8883", ""} {
		s := strings.NewReplacer("@PUBLIC_KEYS@", `"/etc/beamup/keys/release.pub", "/etc/beamup/keys/next.pub"`,
			"@BOARD@", "rpi4", "@NODE_NAME@", "app@127.0.0.1", "@RELEASE_ROOT@", "/opt/app",
			"@RELEASE_NAME@", "app", "@NODE_CONTROL@", "systemd:app.service", "@MQTT_BROKER@", broker).Replace(string(tmpl))
		if broker == "" { // do_install drops [mqtt] when no broker is set
			s = s[:strings.Index(s, "[mqtt]")]
		}
		p := filepath.Join(t.TempDir(), "beamupd.toml")
		os.WriteFile(p, []byte(s), 0o600)
		c, err := config.Load(p)
		if err != nil {
			t.Errorf("broker %q: %v", broker, err)
			continue
		}
		if c.MQTT.Broker != broker || len(c.Trust.PublicKeys) != 2 || c.Node.Control != "systemd:app.service" {
			t.Errorf("broker %q: config %+v", broker, c)
		}
	}
}

// The example recipe ships the same node unit as systemd/.
func TestExampleUnitMatches(t *testing.T) {
	a, _ := os.ReadFile(filepath.Join(layer, "recipes-example", "app-release", "files", "app.service"))
	b, _ := os.ReadFile(filepath.Join("..", "systemd", "app.service"))
	if string(a) != string(b) || len(a) == 0 {
		t.Error("recipes-example/app-release/files/app.service differs from systemd/app.service")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
