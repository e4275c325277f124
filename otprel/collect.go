package otprel

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
)

// A Collector reads a release from its members, given one at a time in
// a tarball's order: the checks every member gets and the facts
// ReleaseFiles holds, as ReadTarballTo does for a tarball. Of the files
// its sink leaves, it wants the bytes of only a few (the .rel, .app and
// appup files, the relup, the runtime configuration, native code), so
// that a release rebuilt from files already on disk need not read the
// others at all (delta.RebuildTo).
type Collector struct {
	sink     Sink
	files    *ReleaseFiles
	relups   map[string][]byte
	rels     map[string][]byte // releases/VSN/*.rel by path
	appFiles [][]byte
	libs     map[string]bool // lib/APP-VSN seen
	boots    map[string]bool // releases/VSN/start.boot seen
	seen     map[string]bool
	cur      *collected // the member whose bytes are being written
}

// NewCollector starts reading a release whose members' bytes go to what
// sink returns for each. Without a sink, it wants every file's bytes, and
// its result holds the Sums of all of them.
func NewCollector(sink Sink) *Collector {
	return &Collector{sink: sink, files: newReleaseFiles(), relups: map[string][]byte{}, rels: map[string][]byte{},
		libs: map[string]bool{}, boots: map[string]bool{}, seen: map[string]bool{}}
}

// collected is a member whose bytes the collector takes: they go to the
// sink's writer, to a hash for Sums, and to what the facts need of them.
type collected struct {
	name  string
	size  int64
	n     int64
	out   io.Writer // the sink's, or nil
	sum   hash.Hash // for Sums, or nil
	fact  hash.Hash // a fact that is a hash, or nil
	keep  bool      // a fact that is the file's bytes
	data  []byte
	taken func(c *collected) // files the fact
}

// maxMetadata bounds the metadata files a collector keeps in memory.
const maxMetadata = 16 << 20

func (m *collected) Write(b []byte) (int, error) {
	if m.n += int64(len(b)); m.n > m.size {
		return 0, fmt.Errorf("release tarball: %s is longer than its %d bytes", m.name, m.size)
	}
	if m.keep {
		if m.n > maxMetadata {
			return 0, fmt.Errorf("%s is larger than %d bytes", m.name, maxMetadata)
		}
		m.data = append(m.data, b...)
	}
	if m.fact != nil {
		m.fact.Write(b)
	}
	if m.sum != nil {
		m.sum.Write(b)
	}
	if m.out != nil {
		return m.out.Write(b)
	}
	return len(b), nil
}

// Next reads member h, and returns where its bytes go: nil when neither
// the sink nor the release's facts want them. All of its bytes are
// written before the next call.
func (c *Collector) Next(h *tar.Header) (io.Writer, error) {
	if err := c.end(); err != nil {
		return nil, err
	}
	if err := checkMember(h, c.seen); err != nil {
		return nil, fmt.Errorf("release tarball: %w", err)
	}
	name := path.Clean(strings.TrimPrefix(h.Name, "./"))
	m := &collected{name: name, size: h.Size}
	if c.sink != nil {
		w, err := c.sink(h, name)
		if err != nil {
			return nil, err
		}
		m.out = w
	}
	regular := h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA
	if regular && (m.out != nil || c.sink == nil) {
		m.sum = sha256.New()
	}
	c.facts(h, m)
	if !regular || m.out == nil && m.sum == nil && m.fact == nil && !m.keep {
		return nil, nil
	}
	c.cur = m
	return m, nil
}

// facts notes what member m's name says of the release, and sets up the
// facts its bytes give.
func (c *Collector) facts(h *tar.Header, m *collected) {
	f := c.files
	parts := strings.Split(m.name, "/")
	keep := func(file func([]byte)) {
		m.keep = true
		m.taken = func(m *collected) { file(m.data) }
	}
	hashed := func(file func([32]byte)) {
		m.fact = sha256.New()
		m.taken = func(m *collected) {
			var s [32]byte
			m.fact.Sum(s[:0])
			file(s)
		}
	}
	if len(parts) >= 2 && parts[0] == "lib" {
		c.libs[parts[1]] = true
		if len(parts) == 4 && parts[2] == "ebin" && strings.HasSuffix(parts[3], ".beam") {
			f.Modules[strings.TrimSuffix(parts[3], ".beam")] = true
		}
		if len(parts) == 4 && parts[2] == "ebin" && strings.HasSuffix(parts[3], ".appup") &&
			strings.HasPrefix(parts[1], strings.TrimSuffix(parts[3], ".appup")+"-") {
			lib := parts[1]
			keep(func(data []byte) { f.Appups[lib] = appupFrom(data) })
		}
	}
	switch {
	case len(parts) == 3 && parts[0] == "releases" && parts[2] == "start.boot":
		c.boots[parts[1]] = true
	case strings.HasPrefix(parts[0], "erts-"):
		f.ERTSIncluded = true
	case len(parts) == 3 && parts[0] == "releases" && strings.HasSuffix(parts[2], ".rel"):
		keep(func(data []byte) { c.rels[m.name] = data })
	case len(parts) == 4 && parts[0] == "lib" && parts[2] == "ebin" && strings.HasSuffix(parts[3], ".app"):
		keep(func(data []byte) { c.appFiles = append(c.appFiles, data) })
	case len(parts) == 3 && parts[0] == "releases" && parts[2] == "relup":
		vsn := parts[1]
		keep(func(data []byte) { c.relups[vsn] = data })
	case len(parts) == 3 && parts[0] == "releases" && configFiles[parts[2]]:
		key := parts[1] + "/" + parts[2]
		hashed(func(s [32]byte) { f.Config[key] = s })
	case len(parts) >= 4 && parts[0] == "lib" && parts[2] == "priv" && isNative(m.name) && h.Typeflag == tar.TypeReg:
		key := appKey(parts)
		hashed(func(s [32]byte) { f.Native[key] = s })
	}
}

// end files what the bytes of the member written last gave.
func (c *Collector) end() error {
	m := c.cur
	if m == nil {
		return nil
	}
	c.cur = nil
	if m.n != m.size {
		return fmt.Errorf("release tarball: %s has %d of its %d bytes", m.name, m.n, m.size)
	}
	if m.taken != nil {
		m.taken(m)
	}
	if m.sum != nil {
		s := Sum{Size: m.size}
		m.sum.Sum(s.SHA256[:0])
		c.files.Sums[m.name] = s
	}
	return nil
}

// Close ends the release after its last member, and returns it.
func (c *Collector) Close() (*ReleaseFiles, error) {
	if err := c.end(); err != nil {
		return nil, err
	}
	files := c.files
	if err := files.pickRel(c.rels, ""); err != nil {
		return nil, fmt.Errorf("release tarball: %w", err)
	}
	for _, data := range c.appFiles {
		files.addAppFile(data)
	}
	if err := files.checkShape(c.libs, c.boots); err != nil {
		return nil, fmt.Errorf("release tarball: %w", err)
	}
	if relup, ok := c.relups[files.Version]; ok {
		files.Relup = relup
		var err error
		if files.RelupFrom, err = parseRelupFrom(relup); err != nil {
			return nil, fmt.Errorf("release tarball: releases/%s/relup: %w", files.Version, err)
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
