package main_test

// The adversarial corpus: bad inputs, each refused with its reason in one
// line, and after all of them nothing changed on the device (the release
// root, the node's releases and OS pid, staging) and the daemon serving.
// One device per transport, its cases in order:
//
//	TestCorpusFile    74 cases  beamupd install, exit 10, the reason in its one
//	                            "beamupd:" line
//	TestCorpusMQTT    37 cases  the retained status says rejected with the reason
//	                            (and the daemon log, for the targets it ignored)
//	TestCorpusSerial  16 cases  beamup serial push, exit 10 and the device's reason
//	                            in one "beamup:" line (9); a plain terminal's noise,
//	                            and receives broken off or lied to by hand (7)

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/delta"
	"github.com/beamup/beamup/internal/brokertest"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/transport/mqtt"
	"github.com/beamup/beamup/updater"
)

// corpusCase is one bad bundle and the words its refusal must carry.
type corpusCase struct {
	name, bundle, want string
}

// bundleParts are a bundle's three entries.
type bundleParts struct {
	raw, sig []byte
	name     string
	payload  []byte
}

// tarEntry is a member of a tar file written by tarFile.
type tarEntry struct {
	name string
	data []byte
}

// tarFile writes a tar of the entries, in order, and returns its path.
func tarFile(t *testing.T, entries ...tarEntry) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)),
			ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	return writeBytes(t, "corpus.bundle", b.Bytes())
}

func writeBytes(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// partsOf reads a bundle's entries.
func partsOf(t *testing.T, path string) bundleParts {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var p bundleParts
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		switch i {
		case 0:
			p.raw = b
		case 1:
			p.sig = b
		case 2:
			p.name, p.payload = h.Name, b
		}
	}
	if p.payload == nil {
		t.Fatalf("%s: not three entries", path)
	}
	return p
}

// file writes the parts as a bundle.
func (p bundleParts) file(t *testing.T) string {
	t.Helper()
	return tarFile(t, tarEntry{bundle.ManifestName, p.raw}, tarEntry{bundle.SignatureName, p.sig}, tarEntry{p.name, p.payload})
}

func (p bundleParts) id() string { return bundle.ID(p.raw) }

var (
	trustedOnce sync.Once
	trustedKey  minisign.PrivateKey
	trustedErr  error
)

// trusted is the trusted test key's secret key, read once.
func trusted(t *testing.T) minisign.PrivateKey {
	t.Helper()
	trustedOnce.Do(func() {
		signed(t, "1.0.0") // makes the keys
		trustedKey, trustedErr = bundle.LoadSecretKey(filepath.Join(keyDir, "release.key"), "")
	})
	if trustedErr != nil {
		t.Fatal(trustedErr)
	}
	return trustedKey
}

// signRaw signs manifest bytes with the trusted test key.
func signRaw(t *testing.T, raw []byte) []byte {
	t.Helper()
	return bundle.SignManifest(trusted(t), raw, "gauge 1.1.0")
}

// resigned is p with its manifest, read as JSON, changed by edit and
// signed again with the trusted key: a signer's mistake or a compromised
// build, which only the manifest's own checks can catch.
func resigned(t *testing.T, p bundleParts, edit func(m map[string]any)) bundleParts {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(p.raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return withRaw(t, p, raw)
}

// withRaw is p with the manifest bytes raw, signed with the trusted key.
func withRaw(t *testing.T, p bundleParts, raw []byte) bundleParts {
	p.raw, p.sig = raw, signRaw(t, raw)
	return p
}

// payloadOf is the manifest's payload object, to edit.
func payloadOf(m map[string]any) map[string]any { return m["payload"].(map[string]any) }

// span is where a tar member sits in a bundle: its header and its data.
type span struct{ hdr, data, size int64 }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// layout finds each member of a tar file in its bytes.
func layout(t *testing.T, data []byte) []span {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(data)}
	tr := tar.NewReader(cr)
	var out []span
	next := int64(0)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s := span{hdr: next, data: cr.n, size: h.Size}
		body, _ := io.ReadAll(tr)
		if !bytes.Equal(data[s.data:s.data+s.size], body) {
			t.Fatalf("member %s is not at %d", h.Name, s.data)
		}
		out = append(out, s)
		next = s.data + (s.size+511)/512*512
	}
	if len(out) != 3 {
		t.Fatalf("%d members, want 3", len(out))
	}
	return out
}

// mutated writes a copy of data changed by change.
func mutated(t *testing.T, data []byte, change func(b []byte) []byte) string {
	t.Helper()
	return writeBytes(t, "mutated.bundle", change(bytes.Clone(data)))
}

func flip(data []byte, at int64) func([]byte) []byte {
	return func(b []byte) []byte { b[at] ^= 0x20; return b }
}

func cut(at int64) func([]byte) []byte {
	return func(b []byte) []byte { return b[:at] }
}

// sigLetter is the offset of a letter well inside the signature line of
// a minisig, so that flipping its case keeps it base64.
func sigLetter(t *testing.T, sig []byte) int64 {
	t.Helper()
	start := bytes.IndexByte(sig, '\n') + 1
	for i := start + 40; i < len(sig) && sig[i] != '\n'; i++ {
		if c := sig[i] | 0x20; c >= 'a' && c <= 'z' {
			return int64(i)
		}
	}
	t.Fatalf("no letter in the signature line of %q", sig)
	return 0
}

// otherArch is a GOARCH that is not this machine's.
func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

// hostileMembers are the members a release never has, with what the
// refusal says (as in TestHostileTarballMembersRefused, and more).
var hostileMembers = []struct {
	name string
	h    *tar.Header
	want string
}{
	{"absolute path", &tar.Header{Name: "/tmp/beamup-corpus-stray", Typeflag: tar.TypeReg}, `member "/tmp/beamup-corpus-stray" has an absolute path`},
	{"dot-dot", &tar.Header{Name: "lib/../../beamup-stray", Typeflag: tar.TypeReg}, "leads out of the release with .."},
	{"hard link", &tar.Header{Name: "lib/passwd", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}, `member "lib/passwd" is a hard link (to "/etc/passwd")`},
	{"symlink out", &tar.Header{Name: "lib/etc", Typeflag: tar.TypeSymlink, Linkname: "../../../etc"}, `member "lib/etc" is a symlink out of the release`},
	{"symlink absolute", &tar.Header{Name: "lib/shadow", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}, `is a symlink to the absolute path "/etc/shadow"`},
	{"char device", &tar.Header{Name: "lib/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, `member "lib/null" is a device node`},
	{"block device", &tar.Header{Name: "lib/sda", Typeflag: tar.TypeBlock, Devmajor: 8}, `member "lib/sda" is a device node`},
	{"fifo", &tar.Header{Name: "lib/pipe", Typeflag: tar.TypeFifo}, `member "lib/pipe" is a fifo`},
	{"duplicate", &tar.Header{Name: "releases/1.1.0/sys.config", Typeflag: tar.TypeReg}, `member "releases/1.1.0/sys.config" appears twice`},
	{"top-level dir", &tar.Header{Name: "home/evil", Typeflag: tar.TypeReg}, "is outside the directories a release has"},
	{"contiguous file", &tar.Header{Name: "lib/cont", Typeflag: tar.TypeCont}, `member "lib/cont" is of tar type '7', not a file, directory or symlink`},
}

// hostile is the sample's 1.1.0 with a hostile member, signed as is.
func hostile(t *testing.T, h *tar.Header) string {
	t.Helper()
	hh := *h
	return signedAsIs(t, rebuilt(t, otptest.Tarball(t, "1.1.0"), nil, &hh, "[].\n"), "gauge", "1.1.0")
}

// hostileFirst is the sample's 1.1.0 with a hostile member before every
// other, signed as is: its first chunk is enough to refuse it.
func hostileFirst(t *testing.T, h *tar.Header) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	hh := *h
	hh.Mode, hh.ModTime = 0o644, time.Now()
	if err := tw.WriteHeader(&hh); err != nil {
		t.Fatal(err)
	}
	otptest.Members(t, otptest.Tarball(t, "1.1.0"), func(h *tar.Header, data []byte) bool {
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
		return true
	})
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "gauge-1.1.0.tar.gz")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return signedAsIs(t, p, "gauge", "1.1.0")
}

// treeDiff lists the lines of before that after lacks (-) and the lines
// after adds (+).
func treeDiff(before, after string) string {
	in := func(list string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(list, "\n") {
			m[l] = true
		}
		return m
	}
	b, a := in(before), in(after)
	var out []string
	for _, l := range strings.Split(before, "\n") {
		if !a[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(after, "\n") {
		if !b[l] {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 40 {
		out = append(out[:40], fmt.Sprintf("... and %d more", len(out)-40))
	}
	return strings.Join(out, "\n")
}

// snapshot is what must not change on a device.
type snapshot struct {
	tree, releases string
	pid            etf.Term
}

func snap(d *device) snapshot {
	return snapshot{tree(d.t, d.Root), strings.Join(d.releases(), " "), d.call("os", "getpid")}
}

// rootAfter reports, once, the first case after which the release root
// differs from the snapshot.
func (s snapshot) rootAfter(t *testing.T, d *device, name string, reported *bool) {
	t.Helper()
	if *reported {
		return
	}
	if now := tree(t, d.Root); now != s.tree {
		*reported = true
		t.Errorf("%s: the release root changed:\n%s", name, treeDiff(s.tree, now))
	}
}

// unchanged checks that the device is as before, and staging empty.
func (s snapshot) unchanged(t *testing.T, d *device) {
	t.Helper()
	if after := tree(t, d.Root); after != s.tree {
		t.Errorf("the release root changed:\n%s", treeDiff(s.tree, after))
	}
	if got := strings.Join(d.releases(), " "); got != s.releases {
		t.Errorf("releases %s, were %s", got, s.releases)
	}
	if got := d.call("os", "getpid"); got != s.pid {
		t.Errorf("the node restarted: os pid %v, was %v", got, s.pid)
	}
	if v := d.runningApp(); v != "1.0.0" {
		t.Errorf("gauge %s runs, want 1.0.0", v)
	}
	staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging"))
	for _, e := range staged {
		size := int64(-1)
		if info, err := e.Info(); err == nil {
			size = info.Size()
		}
		t.Errorf("staging keeps %s (%d bytes)", e.Name(), size)
	}
	for _, stray := range []string{"/tmp/beamup-corpus-stray", filepath.Join(d.Root, "..", "beamup-stray")} {
		if _, err := os.Stat(stray); err == nil {
			t.Errorf("a stray file was written outside the release: %s", stray)
		}
	}
}

// fileCorpus are the bad bundles of the file transport.
func fileCorpus(t *testing.T) []corpusCase {
	t.Helper()
	_, beamup := bins(t)
	good := signed(t, "1.1.0", "--chunk-size", "65536")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	p := partsOf(t, good)
	sp := layout(t, data)
	man, sig, pay := sp[0], sp[1], sp[2]
	chunks := (pay.size + 65535) / 65536
	if chunks < 4 {
		t.Fatalf("the payload has %d chunks of 64 KiB; the corpus wants at least 4", chunks)
	}
	other := partsOf(t, signed(t, "1.1.0", "--chunk-size", "65536", "--security-version", "1"))
	foreign := filepath.Join(t.TempDir(), "foreign.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "other.key"), "--release", otptest.Tarball(t, "1.1.0"), "-o", foreign)
	renamed := renameRelease(t, otptest.Tarball(t, "1.1.0"), "other")
	otherName := filepath.Join(t.TempDir(), "other.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"), "--release", renamed, "-o", otherName)
	script := writeFile(t, "beamupd", "#!/bin/sh\nexit 0\n")
	agentArch := filepath.Join(t.TempDir(), "agent-arch.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"), "--agent", script, "--version", "9.0.0", "--arch", otherArch(), "-o", agentArch)
	agentSame := filepath.Join(t.TempDir(), "agent-same.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"), "--agent", script, "--version", "dev", "--arch", runtime.GOARCH, "-o", agentSame)
	agentName := resigned(t, partsOf(t, agentArch), func(m map[string]any) { m["name"], m["arch"] = "gaugeagent", runtime.GOARCH })
	overManifest := withRaw(t, p, append(bytes.TrimRight(p.raw, "}\n"), append(bytes.Repeat([]byte(" "), bundle.MaxManifestSize), "}\n"...)...))
	realSize := pay.size
	realSHA := sha256.Sum256(p.payload)

	cases := []corpusCase{
		// Not a bundle, or a bundle cut short anywhere.
		{"empty file", writeBytes(t, "empty.bundle", nil), "bundle: reading manifest.json: EOF"},
		{"not a tar", writeFile(t, "junk.bundle", strings.Repeat("this is not a tar file\n", 40)), "bundle: reading manifest.json: archive/tar: invalid tar header"},
		{"cut in manifest header", mutated(t, data, cut(man.hdr+100)), "bundle: reading manifest.json: unexpected EOF"},
		{"cut in manifest", mutated(t, data, cut(man.data+man.size/2)), "bundle: reading manifest.json: unexpected EOF"},
		{"cut in signature header", mutated(t, data, cut(sig.hdr+200)), "bundle: reading manifest.json.minisig: unexpected EOF"},
		{"cut in signature", mutated(t, data, cut(sig.data+sig.size/2)), "bundle: reading manifest.json.minisig: unexpected EOF"},
		{"cut in payload header", mutated(t, data, cut(pay.hdr+300)), "bundle: reading payload entry: unexpected EOF"},
		{"cut at payload start", mutated(t, data, cut(pay.data+10)), "rejected: reading payload: unexpected EOF"},
		{"cut mid payload", mutated(t, data, cut(pay.data+pay.size/2)), "rejected: reading payload: unexpected EOF"},
		{"cut before payload end", mutated(t, data, cut(pay.data+pay.size-1)), "rejected: reading payload: unexpected EOF"},
		// One bit flipped in each part.
		{"flip in manifest", mutated(t, data, flip(data, man.data+man.size/2)), "manifest is not signed by a trusted key"},
		{"flip in signature", mutated(t, data, flip(data, sig.data+sigLetter(t, p.sig))), "manifest is not signed by a trusted key"},
		{"flip in trusted comment", mutated(t, data, flip(data, sig.data+int64(bytes.Index(p.sig, []byte("\ntrusted comment: "))+20))), "manifest is not signed by a trusted key"},
		{"flip at payload start", mutated(t, data, flip(data, pay.data)), "payload: chunk 0 has sha256"},
		{"flip mid payload", mutated(t, data, flip(data, pay.data+pay.size/2)), fmt.Sprintf("payload: chunk %d has sha256", pay.size/2/65536)},
		{"flip at payload end", mutated(t, data, flip(data, pay.data+pay.size-1)), fmt.Sprintf("payload: chunk %d has sha256", chunks-1)},
		{"flip in manifest header", mutated(t, data, flip(data, man.hdr+2)), "bundle: reading manifest.json: archive/tar: invalid tar header"},
		{"flip in signature header", mutated(t, data, flip(data, sig.hdr+3)), "bundle: reading manifest.json.minisig: archive/tar: invalid tar header"},
		{"flip in payload header", mutated(t, data, flip(data, pay.hdr+130)), "bundle: reading payload entry: archive/tar: invalid tar header"},
		// Members missing, out of order, renamed, too big.
		{"no signature", tarFile(t, tarEntry{bundle.ManifestName, p.raw}, tarEntry{p.name, p.payload}), `entry "gauge-1.1.0.tar.gz" where manifest.json.minisig belongs`},
		{"signature first", tarFile(t, tarEntry{bundle.SignatureName, p.sig}, tarEntry{bundle.ManifestName, p.raw}, tarEntry{p.name, p.payload}), `entry "manifest.json.minisig" where manifest.json belongs`},
		{"no payload", tarFile(t, tarEntry{bundle.ManifestName, p.raw}, tarEntry{bundle.SignatureName, p.sig}), "bundle: reading payload entry: EOF"},
		{"payload renamed", tarFile(t, tarEntry{bundle.ManifestName, p.raw}, tarEntry{bundle.SignatureName, p.sig}, tarEntry{"evil.tar.gz", p.payload}), `third entry is "evil.tar.gz", manifest names "gauge-1.1.0.tar.gz"`},
		{"payload longer", tarFile(t, tarEntry{bundle.ManifestName, p.raw}, tarEntry{bundle.SignatureName, p.sig}, tarEntry{p.name, append(bytes.Clone(p.payload), "tail"...)}), fmt.Sprintf("payload is %d bytes, manifest says %d", realSize+4, realSize)},
		{"payload shorter", tarFile(t, tarEntry{bundle.ManifestName, p.raw}, tarEntry{bundle.SignatureName, p.sig}, tarEntry{p.name, p.payload[:realSize-100]}), fmt.Sprintf("payload is %d bytes, manifest says %d", realSize-100, realSize)},
		{"huge signature entry", tarFile(t, tarEntry{bundle.ManifestName, p.raw}, tarEntry{bundle.SignatureName, bytes.Repeat([]byte("A"), 70<<10)}, tarEntry{p.name, p.payload}), "manifest.json.minisig is 71680 bytes, more than 65536"},
		{"oversized manifest", overManifest.file(t), fmt.Sprintf("manifest.json is %d bytes, more than %d", len(overManifest.raw), bundle.MaxManifestSize)},
		// Signatures.
		{"foreign key", foreign, "manifest is not signed by a trusted key (signed by key"},
		{"swapped signature", bundleParts{p.raw, other.sig, p.name, p.payload}.file(t), "manifest is not signed by a trusted key"},
		{"garbage signature", bundleParts{p.raw, []byte("untrusted comment: x\ngarbage\n"), p.name, p.payload}.file(t), "signature: unreadable signature"},
		{"empty signature", bundleParts{p.raw, nil, p.name, p.payload}.file(t), "signature: unreadable signature"},
		// Manifests signed by the trusted key that do not hold.
		{"unknown field", resigned(t, p, func(m map[string]any) { m["run_as"] = "root" }).file(t), `manifest: json: unknown field "run_as"`},
		{"format 3", resigned(t, p, func(m map[string]any) { m["format"] = 3 }).file(t), "format 3 is not supported (want 1 or 2)"},
		{"format 2 without delta", resigned(t, p, func(m map[string]any) { m["format"] = 2 }).file(t), "format 2 is a release delta, and this is none"},
		{"format 1 with delta", resigned(t, p, func(m map[string]any) {
			m["delta"] = map[string]any{"base": "1.0.0", "files": 3, "size": 100}
		}).file(t), "manifest: a delta needs format 2"},
		{"chunk hashes missing one", resigned(t, p, func(m map[string]any) {
			c := payloadOf(m)["chunks"].([]any)
			payloadOf(m)["chunks"] = c[:len(c)-1]
		}).file(t), fmt.Sprintf("in chunks of 65536 needs %d chunk hashes, has %d", chunks, chunks-1)},
		{"chunk hashes one too many", resigned(t, p, func(m map[string]any) {
			c := payloadOf(m)["chunks"].([]any)
			payloadOf(m)["chunks"] = append(c, c[0])
		}).file(t), fmt.Sprintf("in chunks of 65536 needs %d chunk hashes, has %d", chunks, chunks+1)},
		{"negative size", resigned(t, p, func(m map[string]any) { payloadOf(m)["size"] = -1 }).file(t), "payload needs path, size, sha256 and a positive chunk_size"},
		{"zero chunk_size", resigned(t, p, func(m map[string]any) { payloadOf(m)["chunk_size"] = 0 }).file(t), "payload needs path, size, sha256 and a positive chunk_size"},
		{"negative security_version", resigned(t, p, func(m map[string]any) { m["security_version"] = -1 }).file(t), "security_version -1 is negative"},
		{"bad chunk hash", resigned(t, p, func(m map[string]any) { payloadOf(m)["chunks"].([]any)[1] = "not-a-hash" }).file(t), `payload chunk 1: bad sha256 "not-a-hash"`},
		{"unknown kind", resigned(t, p, func(m map[string]any) { m["kind"] = "firmware" }).file(t), `kind "firmware": want release or agent`},
		{"unknown mode", resigned(t, p, func(m map[string]any) { m["upgrade"].(map[string]any)["mode"] = "warm" }).file(t), `upgrade mode "warm": want auto, hot or cold`},
		{"no version", resigned(t, p, func(m map[string]any) { delete(m, "version") }).file(t), "name and version are required"},
		{"manifest not JSON", withRaw(t, p, []byte("format = 1\n")).file(t), "manifest: invalid character"},
		{"agent without arch", resigned(t, partsOf(t, agentArch), func(m map[string]any) { delete(m, "arch") }).file(t), "agent bundle without arch"},
		// Size and hash lies, signed.
		{"size lie", resigned(t, p, func(m map[string]any) { payloadOf(m)["size"] = realSize + 1 }).file(t), fmt.Sprintf("payload is %d bytes, manifest says %d", realSize, realSize+1)},
		{"sha256 lie", resigned(t, p, func(m map[string]any) { payloadOf(m)["sha256"] = strings.Repeat("0", 64) }).file(t),
			fmt.Sprintf("payload: sha256 %s, manifest says %s", hex.EncodeToString(realSHA[:]), strings.Repeat("0", 64))},
		{"chunk hash lie", resigned(t, p, func(m map[string]any) { payloadOf(m)["chunks"].([]any)[2] = strings.Repeat("1", 64) }).file(t),
			"payload: chunk 2 has sha256"},
		// Not meant for this device.
		{"another board", signed(t, "1.1.0", "--compatible", "otherboard"), `bundle is for boards [otherboard], this device is "testboard"`},
		{"agent for another arch", agentArch, fmt.Sprintf("agent bundle is for %s, this device is %s", otherArch(), runtime.GOARCH)},
		{"agent of this version", agentSame, "beamupd dev already runs here"},
		{"agent not beamupd", agentName.file(t), `agent bundle is "gaugeagent", not beamupd`},
		{"another release", otherName, `bundle is release "other", this device runs "gauge"`},
		{"version unlike the .rel", signedAsIs(t, otptest.Tarball(t, "1.1.0"), "gauge", "1.1.1"), "payload holds release gauge 1.1.0, manifest says gauge 1.1.1"},
		{"name unlike the .rel", signedAsIs(t, renamed, "gauge", "1.1.0"), "payload holds release other 1.1.0, manifest says gauge 1.1.0"},
		{"payload not a tarball", signedAsIs(t, writeFile(t, "junk.tar.gz", strings.Repeat("not gzip ", 1000)), "gauge", "1.1.0"), "rejected: payload: reading release tarball: "},
		{"wrong from", signed(t, "1.1.0", "--from", "0.9.0"), "bundle upgrades from [0.9.0], the node runs 1.0.0"},
		{"running version again", signed(t, "1.0.0"), "gauge 1.0.0 is already on the node (permanent); a version number is never reused"},
		{"hot where it is unsafe", signed(t, "1.2.0", "--mode", "hot"), "hot upgrade refused: the relup has no upgrade from 1.0.0"},
		// Deltas.
		{"delta against a missing base", deltaOf(t, "1.2.0", "1.1.0"), "delta against gauge 1.1.0: the base's lib/gauge-1.1.0/"},
		{"delta with a lying index", signedDelta(t, "1.1.0", "1.0.0", func(e *delta.Entry) {
			if e.Source == delta.Patch && strings.HasSuffix(e.Path, "gauge_counter.beam") {
				e.SHA256 = strings.Repeat("0", 64)
			}
		}), "gauge_counter.beam rebuilt has sha256"},
	}
	for _, h := range hostileMembers {
		cases = append(cases, corpusCase{name: "member: " + h.name, bundle: hostile(t, h.h), want: h.want})
	}
	return cases
}

// Every bad bundle given to beamupd install is refused with exit 10 and
// one line that says why, and nothing on the device changes.
func TestCorpusFile(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	cases := fileCorpus(t)
	// Last, once the device has committed security_version 5 for gauge.
	lower := corpusCase{"lower security_version", signed(t, "1.1.0", "--security-version", "4"),
		"security_version 4 is below 5, the highest committed for gauge (anti-rollback)"}
	cases = append(cases, lower)
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("case %q twice", c.name)
		}
		seen[c.name] = true
	}
	t.Logf("%d cases", len(cases))
	before, rootChanged := snap(d), false
	start := time.Now()
	for _, c := range cases {
		if c.name == lower.name {
			os.MkdirAll(d.stateDir, 0o755)
			if err := updater.NewSecurityStore(d.stateDir).Commit("gauge", 5); err != nil {
				t.Fatal(err)
			}
		}
		code, out := d.beamupd("install", c.bundle)
		verdict := strings.TrimSpace(lastLines(out))
		if code != 10 || !strings.Contains(verdict, c.want) {
			t.Errorf("%s: exit %d, want 10 and %q in the verdict %q\n%s", c.name, code, c.want, verdict, out)
		}
		if verdict == "" || strings.Contains(verdict, "\n") {
			t.Errorf("%s: the refusal is not one line:\n%s", c.name, out)
		}
		t.Logf("%s: %s", c.name, verdict)
		before.rootAfter(t, d, c.name, &rootChanged)
	}
	t.Logf("%d refusals in %s", len(cases), time.Since(start).Round(time.Millisecond))
	before.unchanged(t, d)
	if s := d.status(); s.State != "rejected" || s.Release == nil || s.Release.Version != "1.0.0" {
		t.Errorf("status %+v, want rejected on 1.0.0", s)
	}
}

// mqttRig publishes bad input for one device and watches its status.
type mqttRig struct {
	t   *testing.T
	c   paho.Client
	tp  mqtt.Topics
	dev string
	seq int64 // the last device target's sequence
	// bundles are the bundle topics published, to purge.
	bundles []string

	mu   sync.Mutex
	seen []report.Status
}

func newMQTTRig(t *testing.T, url, dev string) *mqttRig {
	r := &mqttRig{t: t, c: connect(t, url), tp: mqtt.Topics{Prefix: "beamup"}, dev: dev, seq: time.Now().UnixMilli()}
	t.Cleanup(func() { r.c.Disconnect(100) })
	tok := r.c.Subscribe(r.tp.Status(dev), 1, func(_ paho.Client, m paho.Message) {
		var s report.Status
		if json.Unmarshal(m.Payload(), &s) == nil {
			r.mu.Lock()
			r.seen = append(r.seen, s)
			r.mu.Unlock()
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribing to the status: %v", tok.Error())
	}
	return r
}

// offer publishes a bundle's offer, and its chunks unless chunks is nil.
func (r *mqttRig) offer(p bundleParts, chunks [][]byte) string {
	id := p.id()
	for n, c := range chunks {
		r.pub(r.tp.Chunk(id, n), c)
	}
	o, _ := json.Marshal(mqtt.Offer{Manifest: string(p.raw), Signature: string(p.sig)})
	r.pub(r.tp.Offer(id), o)
	return id
}

// pub publishes a retained bundle message, which purge clears.
func (r *mqttRig) pub(topic string, payload []byte) {
	pub(r.t, r.c, topic, payload)
	r.bundles = append(r.bundles, topic)
}

// purge clears the bundles' retained messages published so far: the
// broker saves its retained messages on every change, and keeps them
// small this way.
func (r *mqttRig) purge() {
	for _, topic := range r.bundles {
		pub(r.t, r.c, topic, nil)
	}
	r.bundles = nil
}

// point points the device at bundle id with a new signed target.
func (r *mqttRig) point(id string) {
	r.seq++
	pub(r.t, r.c, r.tp.DeviceTarget(r.dev), signedTarget(r.t, "release", mqtt.DeviceScope(r.dev), id, r.seq, time.Hour))
}

// send publishes p with its chunks and points the device at it.
func (r *mqttRig) send(p bundleParts, chunks [][]byte) {
	r.point(r.offer(p, chunks))
}

// rejected waits for a status, published since from, that says rejected
// with want in its reason.
func (r *mqttRig) rejected(from int, since time.Time, want string) (report.Status, bool) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		seen := r.seen[min(from, len(r.seen)):]
		r.mu.Unlock()
		for _, s := range seen {
			if s.State == "rejected" && s.LastResult != nil && !s.LastResult.At.Before(since) &&
				strings.Contains(s.LastResult.Reason, want) {
				return s, true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return report.Status{}, false
}

// alive tells whether the daemon still takes messages: a junk target on
// all is refused.
func (r *mqttRig) alive() bool {
	from, since := r.mark(), time.Now()
	pub(r.t, r.c, r.tp.GroupTarget("all"), []byte(fmt.Sprintf("still there? %d", since.UnixNano())))
	_, ok := r.rejected(from, since, "not a signed target document")
	return ok
}

func (r *mqttRig) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *mqttRig) last() report.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return report.Status{}
	}
	return r.seen[len(r.seen)-1]
}

// chunksOf cuts a payload as its manifest does.
func chunksOf(p bundleParts, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(p.payload); off += size {
		out = append(out, p.payload[off:min(off+size, len(p.payload))])
	}
	return out
}

// replaced is a copy of chunks with chunk n replaced.
func replaced(chunks [][]byte, n int, with []byte) [][]byte {
	out := append([][]byte(nil), chunks...)
	out[n] = with
	return out
}

// signedTargetRaw signs a target document given as JSON text, unchecked.
func signedTargetRaw(t *testing.T, doc string) []byte {
	t.Helper()
	msg, _ := json.Marshal(mqtt.TargetMessage{Target: doc, Signature: string(minisign.SignWithComments(trusted(t), []byte(doc), "target", ""))})
	return msg
}

func fakeID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Bad targets, offers, manifests, chunks and payloads over MQTT are each
// refused or ignored with the reason in the retained status (and, for the
// targets it ignores, the daemon's log), and nothing on the device
// changes.
func TestCorpusMQTT(t *testing.T) {
	t.Parallel()
	broker := brokertest.Start(t, nil)
	url := broker.URL("mqtt")
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url, "line1")})
	_, beamup := bins(t)
	sec := 10
	variant := func() bundleParts { // a good bundle, each with an id of its own
		sec++
		return partsOf(t, signed(t, "1.1.0", "--security-version", strconv.Itoa(sec)))
	}
	variant2 := func() bundleParts {
		sec++
		return partsOf(t, signed(t, "2.0.0", "--security-version", strconv.Itoa(sec)))
	}
	good := variant()
	const cs = bundle.DefaultChunkSize
	chunks2 := chunksOf(variant2(), cs)
	goodChunks := chunksOf(good, cs)
	if len(goodChunks) < 4 {
		t.Fatalf("the payload has %d chunks; the corpus wants at least 4", len(goodChunks))
	}
	foreign := filepath.Join(t.TempDir(), "foreign.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "other.key"), "--release", otptest.Tarball(t, "1.1.0"), "-o", foreign)
	script := writeFile(t, "beamupd", "#!/bin/sh\nexit 0\n")
	agentArch := filepath.Join(t.TempDir(), "agent-arch.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"), "--agent", script, "--version", "9.0.0", "--arch", otherArch(), "-o", agentArch)
	otherName := filepath.Join(t.TempDir(), "other.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"), "--release", renameRelease(t, otptest.Tarball(t, "1.1.0"), "other"), "-o", otherName)
	over := withRaw(t, good, append(bytes.TrimRight(good.raw, "}\n"), append(bytes.Repeat([]byte(" "), bundle.MaxManifestSize), "}\n"...)...))
	realSHA := sha256.Sum256(good.payload)

	dm := d.run()
	r := newMQTTRig(t, url, d.id)
	tp := r.tp
	junk := []byte("\x00garbage{")
	var accepted int64 // the sequence of a device target the device took
	type mqttCase struct {
		name string
		send func()
		want string
		// log is a line the daemon's log must have too.
		log string
	}
	ignoring := func(topic, why string) string { return "ignoring " + topic + ": target refused: " + why }
	cases := []mqttCase{
		// Garbage on every topic the device reads.
		{name: "junk on targets/all", send: func() { pub(t, r.c, tp.GroupTarget("all"), junk) },
			want: ignoring(tp.GroupTarget("all"), "not a signed target document"), log: ignoring(tp.GroupTarget("all"), "not a signed target document")},
		{name: "junk on the board's target", send: func() { pub(t, r.c, tp.GroupTarget("testboard"), junk) },
			want: ignoring(tp.GroupTarget("testboard"), "not a signed target document"), log: ignoring(tp.GroupTarget("testboard"), "not a signed target document")},
		{name: "junk on the group's target", send: func() { pub(t, r.c, tp.GroupTarget("line1"), junk) },
			want: ignoring(tp.GroupTarget("line1"), "not a signed target document"), log: ignoring(tp.GroupTarget("line1"), "not a signed target document")},
		{name: "junk on the device's target", send: func() { pub(t, r.c, tp.DeviceTarget(d.id), junk) },
			want: ignoring(tp.DeviceTarget(d.id), "not a signed target document"), log: ignoring(tp.DeviceTarget(d.id), "not a signed target document")},
		{name: "junk offer", send: func() {
			id := fakeID("junk offer")
			r.pub(tp.Offer(id), junk)
			r.point(id)
		}, want: "offer: offer of bundle " + fakeID("junk offer")[:12] + " is not an offer"},
		// Targets.
		{name: "unsigned target", send: func() {
			doc, _ := json.Marshal(mqtt.TargetDoc{Bundle: good.id(), Scope: mqtt.DeviceScope(d.id), Sequence: r.seq + 100, Expires: time.Now().Add(time.Hour)})
			msg, _ := json.Marshal(mqtt.TargetMessage{Target: string(doc)})
			pub(t, r.c, tp.DeviceTarget(d.id), msg)
		}, want: ignoring(tp.DeviceTarget(d.id), "not signed by a trusted key"), log: ignoring(tp.DeviceTarget(d.id), "not signed by a trusted key")},
		{name: "target by a foreign key", send: func() {
			pub(t, r.c, tp.DeviceTarget(d.id), signedTarget(t, "other", mqtt.DeviceScope(d.id), good.id(), r.seq+100, time.Hour))
		}, want: ignoring(tp.DeviceTarget(d.id), "not signed by a trusted key"), log: ignoring(tp.DeviceTarget(d.id), "not signed by a trusted key")},
		{name: "target for another device", send: func() {
			pub(t, r.c, tp.DeviceTarget(d.id), signedTarget(t, "release", mqtt.DeviceScope("dev-other"), good.id(), r.seq+100, time.Hour))
		}, want: "it is for device:dev-other, this topic is device:" + d.id + "'s"},
		{name: "target for another group", send: func() {
			pub(t, r.c, tp.GroupTarget("line1"), signedTarget(t, "release", mqtt.GroupScope("elsewhere"), good.id(), r.seq+100, time.Hour))
		}, want: "it is for group:elsewhere, this topic is group:line1's"},
		{name: "expired target", send: func() {
			pub(t, r.c, tp.DeviceTarget(d.id), signedTarget(t, "release", mqtt.DeviceScope(d.id), good.id(), r.seq+100, -time.Minute))
		}, want: ignoring(tp.DeviceTarget(d.id), "it expired at")},
		{name: "target naming no bundle id", send: func() {
			pub(t, r.c, tp.DeviceTarget(d.id), signedTarget(t, "release", mqtt.DeviceScope(d.id), "../../etc/passwd", r.seq+100, time.Hour))
		}, want: `target refused: "../../etc/passwd" is not a bundle id`},
		{name: "target with an unknown field", send: func() {
			pub(t, r.c, tp.DeviceTarget(d.id), signedTargetRaw(t, fmt.Sprintf(`{"bundle":%q,"scope":%q,"sequence":%d,"expires":%q,"force":true}`,
				good.id(), mqtt.DeviceScope(d.id), r.seq+100, time.Now().Add(time.Hour).Format(time.RFC3339))))
		}, want: `target refused: json: unknown field "force"`},
		// Offers.
		{name: "offer with an unknown field", send: func() {
			id := fakeID("offer with an unknown field")
			r.pub(tp.Offer(id), []byte(`{"manifest":"{}","signature":"","install_now":true}`))
			r.point(id)
		}, want: `is not an offer: json: unknown field "install_now"`},
		{name: "offer of another manifest", send: func() {
			o, _ := json.Marshal(mqtt.Offer{Manifest: string(good.raw), Signature: string(good.sig)})
			id := fakeID("offer of another manifest")
			r.pub(tp.Offer(id), o)
			r.point(id)
		}, want: "carries the manifest of bundle " + good.id()[:12]},
		{name: "offer by a foreign key", send: func() { r.send(partsOf(t, foreign), nil) }, want: "manifest is not signed by a trusted key (signed by key"},
		{name: "offer with a swapped signature", send: func() {
			p := variant()
			p.sig = good.sig
			r.send(p, nil)
		}, want: "manifest is not signed by a trusted key"},
		{name: "offer with a garbage signature", send: func() {
			p := variant()
			p.sig = []byte("garbage")
			r.send(p, nil)
		}, want: "signature: unreadable signature"},
		{name: "oversized offer", send: func() { r.send(over, nil) }, want: fmt.Sprintf("manifest is %d bytes, more than %d", len(over.raw), bundle.MaxManifestSize)},
		{name: "offer larger than any manifest", send: func() {
			id := fakeID("offer larger than any manifest")
			r.pub(tp.Offer(id), bytes.Repeat([]byte("x"), mqtt.MaxOffer+1))
			r.point(id)
		}, want: fmt.Sprintf("offer of bundle %.12s is %d bytes, more than %d", fakeID("offer larger than any manifest"), mqtt.MaxOffer+1, mqtt.MaxOffer)},
		{name: "offer of format 3", send: func() { r.send(resigned(t, good, func(m map[string]any) { m["format"] = 3 }), nil) }, want: "format 3 is not supported"},
		{name: "offer with an unknown manifest field", send: func() {
			r.send(resigned(t, good, func(m map[string]any) { m["preinstall"] = "rm -rf /" }), nil)
		}, want: `manifest: json: unknown field "preinstall"`},
		{name: "offer with chunk hashes missing", send: func() {
			r.send(resigned(t, good, func(m map[string]any) { payloadOf(m)["chunks"] = []any{} }), nil)
		}, want: fmt.Sprintf("needs %d chunk hashes, has 0", len(goodChunks))},
		// Not meant for this device.
		{name: "another board", send: func() { r.send(partsOf(t, signed(t, "1.1.0", "--compatible", "otherboard")), nil) }, want: `bundle is for boards [otherboard], this device is "testboard"`},
		{name: "agent for another arch", send: func() { r.send(partsOf(t, agentArch), nil) }, want: fmt.Sprintf("agent bundle is for %s, this device is %s", otherArch(), runtime.GOARCH)},
		{name: "another release", send: func() { r.send(partsOf(t, otherName), nil) }, want: `bundle is release "other", this device runs "gauge"`},
		// Replays, once a target was taken (the last one's sequence).
		{name: "replayed older target", send: func() {
			accepted = r.seq
			pub(t, r.c, tp.DeviceTarget(d.id), signedTarget(t, "release", mqtt.DeviceScope(d.id), good.id(), accepted-1000, time.Hour))
		}, want: "older than"},
		{name: "same sequence, another bundle", send: func() {
			pub(t, r.c, tp.DeviceTarget(d.id), signedTarget(t, "release", mqtt.DeviceScope(d.id), good.id(), accepted, time.Hour))
		}, want: "already named bundle"},
		// Payloads the updater refuses once they are here.
		{name: "version unlike the .rel", send: func() {
			p := partsOf(t, signedAsIs(t, otptest.Tarball(t, "1.1.0"), "gauge", "1.1.1"))
			r.send(p, chunksOf(p, cs))
		}, want: "payload holds release gauge 1.1.0, manifest says gauge 1.1.1"},
		{name: "hostile member", send: func() {
			p := partsOf(t, hostile(t, hostileMembers[0].h))
			r.send(p, chunksOf(p, cs))
		}, want: hostileMembers[0].want},
		// Refused from its first chunk: the rest is never published, and
		// the device does not wait for it.
		{name: "hostile member first, the rest never sent", send: func() {
			p := partsOf(t, hostileFirst(t, hostileMembers[1].h))
			r.send(p, chunksOf(p, cs)[:1])
		}, want: hostileMembers[1].want},
		{name: "delta against a missing base", send: func() {
			p := partsOf(t, deltaOf(t, "1.2.0", "1.1.0"))
			r.send(p, chunksOf(p, cs))
		}, want: "here; send the full bundle"},
		{name: "lower security_version", send: func() {
			sec = 60
			if err := updater.NewSecurityStore(d.stateDir).Commit("gauge", 50); err != nil {
				t.Fatal(err)
			}
			r.send(partsOf(t, signed(t, "1.1.0", "--security-version", "49")), nil)
		}, want: "security_version 49 is below 50"},
		// Every chunk as signed, the whole payload's sha256 not.
		{name: "sha256 lie", send: func() {
			p := resigned(t, variant(), func(m map[string]any) { payloadOf(m)["sha256"] = strings.Repeat("0", 64) })
			r.send(p, goodChunks)
		}, want: "sha256 " + hex.EncodeToString(realSHA[:]) + ", manifest says " + strings.Repeat("0", 64)},
		// Last, chunks that are not the manifest's, of 2.0.0, which a device
		// downloads even if it wrongly took the 1.1.0 above.
		{name: "junk chunk", send: func() { r.send(variant2(), replaced(chunks2, 0, junk)) }, want: fmt.Sprintf("chunk 0 is 9 bytes, manifest says %d", cs)},
		{name: "chunk with wrong bytes", send: func() {
			r.send(variant2(), replaced(chunks2, 3, bytes.Repeat([]byte{1}, cs)))
		}, want: "chunk 3 has sha256"},
		{name: "chunk of the wrong size", send: func() { r.send(variant2(), replaced(chunks2, 2, chunks2[2][:100])) }, want: fmt.Sprintf("chunk 2 is 100 bytes, manifest says %d", cs)},
		{name: "chunk one byte longer", send: func() {
			r.send(variant2(), replaced(chunks2, 1, append(bytes.Clone(chunks2[1]), 0)))
		}, want: fmt.Sprintf("chunk 1 is %d bytes, manifest says %d", cs+1, cs)},
		{name: "size lie", send: func() {
			p := resigned(t, variant2(), func(m map[string]any) {
				n, _ := payloadOf(m)["size"].(json.Number).Int64()
				payloadOf(m)["size"] = n + 1
			})
			r.send(p, chunks2)
		}, want: fmt.Sprintf("chunk %d is %d bytes, manifest says %d", len(chunks2)-1, len(chunks2[len(chunks2)-1]), len(chunks2[len(chunks2)-1])+1)},
	}
	t.Logf("%d cases", len(cases))
	waitFor(t, 60*time.Second, "the device's first status", func() bool { return r.last().State == "idle" })
	before, rootChanged := snap(d), false
	deaf := "" // the case after which the daemon heard nothing more
	start := time.Now()
	for _, c := range cases {
		from, since := r.mark(), time.Now().Add(-time.Millisecond)
		c.send()
		s, ok := r.rejected(from, since, c.want)
		switch {
		case !ok:
			t.Errorf("%s: no rejected status with %q; last %+v\ndaemon log:\n%s", c.name, c.want, r.last(), dm.log())
		case strings.Contains(s.LastResult.Reason, "\n"):
			t.Errorf("%s: the reason is not one line: %q", c.name, s.LastResult.Reason)
		case c.log != "" && !strings.Contains(dm.log(), c.log):
			t.Errorf("%s: the daemon log does not say %q", c.name, c.log)
		}
		r.purge()
		before.rootAfter(t, d, c.name, &rootChanged)
		if !ok && !r.alive() {
			deaf = c.name
			break
		}
	}
	t.Logf("%d refusals in %s", len(cases), time.Since(start).Round(time.Millisecond))
	switch {
	case deaf != "":
		t.Errorf("after %s the daemon takes no more messages from the broker; the cases after it were not run", deaf)
	case !r.alive():
		t.Errorf("the daemon no longer takes messages from the broker:\n%s", dm.log())
	}
	// No download may stay: one that a bad chunk ended is never resumed
	// (the bundle is not tried again), and Fetch removes it; only one that
	// the broker broke off stays, to resume, and the corpus has none.
	before.unchanged(t, d)
}

// crc16x is CRC-16/XMODEM, for blocks made by hand.
func crc16x(data []byte) uint16 {
	var crc uint16
	for _, b := range data {
		crc ^= uint16(b) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// ymodemBlock is a YMODEM block n with data padded to 128 or 1024 bytes.
func ymodemBlock(n byte, data []byte) []byte {
	size, start := 128, byte(0x01)
	if len(data) > 128 {
		size, start = 1024, 0x02
	}
	body := make([]byte, size)
	copy(body, data)
	crc := crc16x(body)
	return append(append([]byte{start, n, ^n}, body...), byte(crc>>8), byte(crc))
}

// Bad bundles pushed over the cable with beamup serial are refused with
// exit 10 and the reason in one line; a terminal's noise, an aborted
// transfer and hand-made YMODEM that lies are answered with one line too;
// nothing on the device changes and the console still answers.
func TestCorpusSerial(t *testing.T) {
	t.Parallel()
	otptest.Require(t, "socat")
	devPort, laptopPort := cable(t)
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: serialSection(devPort)})
	_, beamup := bins(t)
	good := signed(t, "1.1.0", "--chunk-size", "65536")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	sp := layout(t, data)
	p := partsOf(t, good)
	foreign := filepath.Join(t.TempDir(), "foreign.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "other.key"), "--release", otptest.Tarball(t, "1.1.0"), "-o", foreign)
	pushes := []corpusCase{
		{name: "not a bundle", bundle: writeFile(t, "junk.bundle", strings.Repeat("this is not a tar file\n", 40)), want: "rejected: bundle: reading manifest.json: archive/tar: invalid tar header"},
		{name: "flip in manifest", bundle: mutated(t, data, flip(data, sp[0].data+sp[0].size/2)), want: "rejected: signature: manifest is not signed by a trusted key"},
		{name: "foreign key", bundle: foreign, want: "rejected: signature: manifest is not signed by a trusted key (signed by key"},
		{name: "flip mid payload", bundle: mutated(t, data, flip(data, sp[2].data+sp[2].size/2)), want: fmt.Sprintf("rejected: payload: chunk %d has sha256", sp[2].size/2/65536)},
		{name: "cut mid payload", bundle: mutated(t, data, cut(sp[2].data+sp[2].size/2)), want: "rejected: reading payload: unexpected EOF"},
		{name: "sha256 lie", bundle: resigned(t, p, func(m map[string]any) { payloadOf(m)["sha256"] = strings.Repeat("0", 64) }).file(t), want: "manifest says " + strings.Repeat("0", 64)},
		{name: "another board", bundle: signed(t, "1.1.0", "--compatible", "otherboard"), want: `rejected: bundle is for boards [otherboard], this device is "testboard"`},
		{name: "hostile member", bundle: hostile(t, hostileMembers[1].h), want: hostileMembers[1].want},
		{name: "delta against a missing base", bundle: deltaOf(t, "1.2.0", "1.1.0"), want: "delta against gauge 1.1.0: the base's lib/gauge-1.1.0/"},
	}
	d.run()
	// Wait for the console.
	waitFor(t, 60*time.Second, "the console", func() bool {
		out, err := execOut(beamup, "serial", "--port", laptopPort, "status")
		return err == nil && strings.Contains(out, `"version":"1.0.0"`)
	})
	before, rootChanged := snap(d), false
	start := time.Now()

	// A technician's terminal first: noise, aborted and lying transfers.
	tm := openTerminal(t, laptopPort)
	settle := func() { // reads what comes until the line is quiet
		buf := make([]byte, 256)
		for {
			tm.f.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := tm.f.Read(buf); err != nil {
				break
			}
		}
		tm.f.SetReadDeadline(time.Time{})
	}
	settle()
	tm.send("\r")
	tm.readUntil("beamup> ", 20*time.Second)
	settle()
	// receive asks for a transfer; what follows its first 'C' is the case.
	receive := func() {
		tm.send("receive\r")
		tm.readUntil("ready:", 10*time.Second)
		tm.readUntil("aborts\r\n", 10*time.Second)
		tm.readUntil("C", 10*time.Second)
	}
	// ack0 sends block 0 and waits for its ACK and the 'C' for block 1.
	ack0 := func(name string, size int) {
		tm.send(string(ymodemBlock(0, []byte(fmt.Sprintf("%s\x00%d 0 100644", name, size)))))
		tm.readUntil("\x06", 10*time.Second)
		tm.readUntil("C", 10*time.Second)
	}
	terminals := []struct {
		name string
		act  func()
		want string
	}{
		{"noise line", func() { tm.send("\x01\x1b[Agarb\x00age\x07 \x02junk!\x7f\r") }, `unknown command "[Agarbage junk"; try help`},
		{"ctrl-x ctrl-x", func() { receive(); tm.send("\x18\x18") },
			"receive failed: transfer broken off (ymodem: cancelled by the other side (CAN CAN)); nothing was installed"},
		{"noise then ctrl-x ctrl-x", func() {
			receive()
			tm.send("\x7fnoise\xff\xfe on the line\x00")
			tm.readUntil("C", 10*time.Second) // asked again, once the noise has passed
			tm.send("\x18\x18")
		}, "receive failed: transfer broken off (ymodem: cancelled by the other side (CAN CAN)); nothing was installed"},
		{"announced too big", func() {
			receive()
			tm.send(string(ymodemBlock(0, []byte("big.bundle\x002147483648 0 100644"))))
		}, "receive failed: transfer broken off (ymodem: big.bundle is 2147483648 bytes, more than the 1073741824 allowed); nothing was installed"},
		{"block 0 without a size", func() {
			receive()
			tm.send(string(ymodemBlock(0, []byte("nosize.bundle\x00"))))
		}, "receive failed: transfer broken off (ymodem: block 0 carries no file size); nothing was installed"},
		{"sender ends early", func() {
			receive()
			ack0("short.bundle", len(data))
			tm.send(string(ymodemBlock(1, data[:1024])))
			tm.readUntil("\x06", 10*time.Second)
			tm.send("\x04")
			tm.readUntil("\x15", 10*time.Second)
			tm.send("\x04")
		}, fmt.Sprintf("receive failed: transfer broken off (ymodem: the sender ended after 1024 of %d bytes); nothing was installed", len(data))},
		{"block out of order", func() {
			receive()
			ack0("order.bundle", len(data))
			tm.send(string(ymodemBlock(2, data[:1024])))
		}, "receive failed: transfer broken off (ymodem: block 2 where 1 belongs); nothing was installed"},
	}
	for _, c := range terminals {
		c.act()
		out := tm.readUntil("beamup> ", 60*time.Second)
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, c.want) {
				line = l
			}
		}
		if line == "" {
			t.Errorf("%s: the console does not say %q:\n%q", c.name, c.want, out)
		}
		before.rootAfter(t, d, c.name, &rootChanged)
	}
	tm.f.Close()

	// Then beamup serial push.
	for _, c := range pushes {
		out, err := execOut(beamup, "serial", "--port", laptopPort, "push", c.bundle)
		var verdict []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "beamup:") {
				verdict = append(verdict, l)
			}
		}
		if exitCode(err) != 10 || len(verdict) != 1 || !strings.Contains(verdict[0], c.want) {
			t.Errorf("%s: %v, want exit 10 and one line with %q\n%s", c.name, err, c.want, out)
		}
		before.rootAfter(t, d, c.name, &rootChanged)
	}
	t.Logf("%d refusals in %s", len(terminals)+len(pushes), time.Since(start).Round(time.Millisecond))
	before.unchanged(t, d)
	out, err := execOut(beamup, "serial", "--port", laptopPort, "status")
	if err != nil || !strings.Contains(out, `"version":"1.0.0"`) || !strings.Contains(out, `"state":"rejected"`) {
		t.Errorf("the console does not answer after the corpus: %v\n%s", err, out)
	}
}
