// Package delta makes and applies delta payloads: a release tarball
// described file by file, whose unchanged files are taken from a base
// release the device has installed and whose changed files travel whole
// or as a patch against the base's file of the same place.
//
// A delta payload is a gzipped tar. Its first member, Index, lists every
// member of the release tarball it rebuilds, in order, each with its size
// and SHA-256; the members after it are the bytes of the files the device
// cannot take from its base, in the index's order, named as the file they
// make. The bundle's signed manifest covers the payload's hash, and so the
// index, and so every file of the result: nothing is used before it has
// matched its line of the index.
package delta

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// Index is the name of a delta payload's first member.
const Index = "index.jsonl"

// Limits the device holds a delta to before it trusts a line of it.
const (
	MaxIndex   = 32 << 20 // bytes of the index
	MaxEntries = 1 << 20  // lines of the index
	MaxFile    = 1 << 30  // bytes of one file of the result
)

// Source says where a file of the result comes from.
type Source string

const (
	// Whole: the file's bytes are the next member of the payload.
	Whole Source = ""
	// Copy: the base's file named by Entry.Base, unchanged.
	Copy Source = "copy"
	// Patch: the next member of the payload patches the base's file
	// named by Entry.Base (see Diff).
	Patch Source = "patch"
)

// Entry is one member of the rebuilt release tarball: one line of the
// index.
type Entry struct {
	Path string `json:"path"`
	Mode int64  `json:"mode"`
	// Dir and Link make the entry a directory or a symlink to Link; other
	// entries are regular files of Size bytes hashing to SHA256.
	Dir    bool   `json:"dir,omitempty"`
	Link   string `json:"link,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Source Source `json:"source,omitempty"`
	// Base is the base release's file a Copy or Patch starts from, and
	// BaseSHA256 its hash (a Copy's is SHA256), so that a device whose base
	// differs says so instead of rebuilding a file that cannot match.
	Base       string `json:"base,omitempty"`
	BaseSHA256 string `json:"base_sha256,omitempty"`
}

// Payload reports whether the entry's bytes travel in the payload.
func (e *Entry) Payload() bool { return e.regular() && e.Source != Copy }

func (e *Entry) regular() bool { return !e.Dir && e.Link == "" }

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (e *Entry) check() error {
	if err := relative(e.Path); err != nil {
		return err
	}
	if e.Mode < 0 || e.Mode > 0o7777 {
		return fmt.Errorf("%s: mode %o", e.Path, e.Mode)
	}
	if !e.regular() {
		if e.Dir && e.Link != "" || e.Size != 0 || e.SHA256 != "" || e.Source != Whole || e.Base != "" {
			return fmt.Errorf("%s: a directory or symlink with a file's fields", e.Path)
		}
		return nil
	}
	if e.Size < 0 || e.Size > MaxFile {
		return fmt.Errorf("%s: size %d out of bounds", e.Path, e.Size)
	}
	if !hexSHA256.MatchString(e.SHA256) {
		return fmt.Errorf("%s: bad sha256 %q", e.Path, e.SHA256)
	}
	switch e.Source {
	case Whole:
		if e.Base != "" || e.BaseSHA256 != "" {
			return fmt.Errorf("%s: a whole file with a base", e.Path)
		}
	case Copy, Patch:
		if err := relative(e.Base); err != nil {
			return fmt.Errorf("%s: base: %w", e.Path, err)
		}
		if e.Source == Patch && !hexSHA256.MatchString(e.BaseSHA256) {
			return fmt.Errorf("%s: patch without the base's sha256", e.Path)
		}
		if e.Source == Copy && e.BaseSHA256 != "" && e.BaseSHA256 != e.SHA256 {
			return fmt.Errorf("%s: a copy that changes its base", e.Path)
		}
	default:
		return fmt.Errorf("%s: source %q", e.Path, e.Source)
	}
	return nil
}

// relative refuses a path that is absolute or leads up.
func relative(p string) error {
	if p == "" || path.IsAbs(p) || strings.Contains(p, "\\") {
		return fmt.Errorf("path %q is not relative", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." || part == "" {
			return fmt.Errorf("path %q is not clean", p)
		}
	}
	return nil
}

// ReadIndex reads and checks an index. It stops at the first bad line.
func ReadIndex(r io.Reader) ([]Entry, error) {
	dec := json.NewDecoder(bufio.NewReader(io.LimitReader(r, MaxIndex+1)))
	dec.DisallowUnknownFields()
	var entries []Entry
	seen := map[string]bool{}
	for {
		var e Entry
		err := dec.Decode(&e)
		if err == io.EOF {
			break // and nothing else after the last entry
		}
		if err != nil {
			return nil, fmt.Errorf("index line %d: %w", len(entries)+1, err)
		}
		if len(entries) == MaxEntries {
			return nil, fmt.Errorf("index: more than %d entries", MaxEntries)
		}
		if err := e.check(); err != nil {
			return nil, fmt.Errorf("index line %d: %w", len(entries)+1, err)
		}
		if seen[e.Path] {
			return nil, fmt.Errorf("index line %d: %s appears twice", len(entries)+1, e.Path)
		}
		seen[e.Path] = true
		entries = append(entries, e)
	}
	if dec.InputOffset() > MaxIndex {
		return nil, fmt.Errorf("index: more than %d bytes", MaxIndex)
	}
	return entries, nil
}

// WriteIndex writes entries one JSON object per line.
func WriteIndex(w io.Writer, entries []Entry) error {
	enc := json.NewEncoder(w)
	for i := range entries {
		if err := enc.Encode(&entries[i]); err != nil {
			return err
		}
	}
	return nil
}
