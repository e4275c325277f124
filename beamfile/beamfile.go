// Package beamfile reads compiled BEAM modules in Go, without Erlang: the
// chunks an appup is decided from (atoms, exports, imports, attributes)
// and a digest of the code itself. Erlang, Elixir and Gleam compile to the
// same format.
package beamfile

import (
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ergo-services/ergo/etf"
)

// Module is what a BEAM file says of its module.
type Module struct {
	Name string
	// Exports are the exported functions as "name/arity".
	Exports []string
	// Calls are the modules whose functions the code calls (the import
	// table), itself excluded, sorted.
	Calls []string
	// Behaviours are the behaviours the module declares (behaviour and
	// behavior attributes).
	Behaviours []string
	// Digest identifies the code: the MD5 over the chunks that
	// beam_lib:md5/1 uses (code, atoms, imports, exports, strings,
	// literals, funs). Two builds of the same source have the same
	// digest whatever their debug info, compile time or line numbers.
	Digest [16]byte
}

// Exported says whether the module exports fun, as "name/arity".
func (m *Module) Exported(fun string) bool { return slices.Contains(m.Exports, fun) }

// ErrFormat is returned for what is not a BEAM file.
var ErrFormat = errors.New("not a BEAM file")

// Read reads a BEAM file's contents.
func Read(data []byte) (*Module, error) {
	chunks, err := split(data)
	if err != nil {
		return nil, err
	}
	atoms, err := readAtoms(chunks)
	if err != nil {
		return nil, err
	}
	if len(atoms) == 0 {
		return nil, fmt.Errorf("%w: no atoms", ErrFormat)
	}
	m := &Module{Name: atoms[0]}
	atom := func(i uint32) (string, error) {
		if i == 0 || int(i) > len(atoms) {
			return "", fmt.Errorf("%w: atom index %d of %d", ErrFormat, i, len(atoms))
		}
		return atoms[i-1], nil
	}
	err = triples(chunks["ExpT"], func(f, a, _ uint32) error {
		name, err := atom(f)
		m.Exports = append(m.Exports, fmt.Sprintf("%s/%d", name, a))
		return err
	})
	if err != nil {
		return nil, err
	}
	calls := map[string]bool{}
	err = triples(chunks["ImpT"], func(mod, _, _ uint32) error {
		name, err := atom(mod)
		if name != m.Name {
			calls[name] = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for c := range calls {
		m.Calls = append(m.Calls, c)
	}
	slices.Sort(m.Calls)
	if m.Behaviours, err = behaviours(chunks["Attr"]); err != nil {
		return nil, err
	}
	m.Digest, err = digest(chunks)
	return m, err
}

// split returns the chunks of an IFF "FOR1 ... BEAM" file by id.
func split(data []byte) (map[string][]byte, error) {
	if len(data) < 12 || string(data[:4]) != "FOR1" || string(data[8:12]) != "BEAM" {
		return nil, ErrFormat
	}
	size := int(binary.BigEndian.Uint32(data[4:8]))
	if size+8 > len(data) || size < 4 {
		return nil, fmt.Errorf("%w: %d bytes, the header says %d", ErrFormat, len(data), size+8)
	}
	rest := data[12 : size+8]
	chunks := map[string][]byte{}
	for len(rest) >= 8 {
		id, n := string(rest[:4]), int(binary.BigEndian.Uint32(rest[4:8]))
		if n > len(rest)-8 {
			return nil, fmt.Errorf("%w: chunk %s of %d bytes runs past the end", ErrFormat, id, n)
		}
		chunks[id] = rest[8 : 8+n]
		rest = rest[min(len(rest), 8+(n+3)&^3):]
	}
	return chunks, nil
}

// readAtoms reads the atom table: AtU8 (UTF-8, OTP 20 on) or Atom
// (Latin-1). A negative count (OTP 26 on) means lengths in the compact
// term encoding.
func readAtoms(chunks map[string][]byte) ([]string, error) {
	c, ok := chunks["AtU8"]
	if !ok {
		if c, ok = chunks["Atom"]; !ok {
			return nil, fmt.Errorf("%w: no atom table", ErrFormat)
		}
	}
	if len(c) < 4 {
		return nil, fmt.Errorf("%w: short atom table", ErrFormat)
	}
	count := int32(binary.BigEndian.Uint32(c))
	compact := count < 0
	if compact {
		count = -count
	}
	if int(count) > len(c) {
		return nil, fmt.Errorf("%w: %d atoms in %d bytes", ErrFormat, count, len(c))
	}
	atoms := make([]string, 0, count)
	p := c[4:]
	for range count {
		var n int
		if compact {
			var used int
			n, used = compactLen(p)
			if used == 0 {
				return nil, fmt.Errorf("%w: bad atom length", ErrFormat)
			}
			p = p[used:]
		} else {
			if len(p) < 1 {
				return nil, fmt.Errorf("%w: atom table ends early", ErrFormat)
			}
			n, p = int(p[0]), p[1:]
		}
		if n > len(p) {
			return nil, fmt.Errorf("%w: atom table ends early", ErrFormat)
		}
		atoms = append(atoms, string(p[:n]))
		p = p[n:]
	}
	return atoms, nil
}

// compactLen decodes a small non-negative integer in the compact term
// encoding (tag 0), as OTP 26's atom table writes lengths.
func compactLen(p []byte) (n, used int) {
	if len(p) == 0 {
		return 0, 0
	}
	b := p[0]
	switch {
	case b&0x08 == 0:
		return int(b >> 4), 1
	case b&0x10 == 0 && len(p) >= 2:
		return int(b>>5)<<8 | int(p[1]), 2
	}
	return 0, 0 // longer than any atom
}

// triples walks a table of count, then count triples of u32 (ExpT, ImpT).
func triples(c []byte, each func(a, b, c uint32) error) error {
	if c == nil {
		return nil
	}
	if len(c) < 4 {
		return fmt.Errorf("%w: short table", ErrFormat)
	}
	n := int(binary.BigEndian.Uint32(c))
	if n < 0 || n > (len(c)-4)/12 {
		return fmt.Errorf("%w: %d entries in %d bytes", ErrFormat, n, len(c))
	}
	for i := range n {
		o := 4 + 12*i
		if err := each(binary.BigEndian.Uint32(c[o:]), binary.BigEndian.Uint32(c[o+4:]), binary.BigEndian.Uint32(c[o+8:])); err != nil {
			return err
		}
	}
	return nil
}

// behaviours reads the behaviour attributes from the Attr chunk, the
// module's attributes in the external term format.
func behaviours(c []byte) ([]string, error) {
	if len(c) < 1 || c[0] != 131 {
		return nil, nil
	}
	t, _, err := etf.Decode(c[1:], nil, etf.DecodeOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: attributes: %v", ErrFormat, err)
	}
	attrs, _ := t.(etf.List)
	var out []string
	for _, a := range attrs {
		kv, ok := a.(etf.Tuple)
		if !ok || len(kv) != 2 || (kv[0] != etf.Atom("behaviour") && kv[0] != etf.Atom("behavior")) {
			continue
		}
		l, _ := kv[1].(etf.List)
		for _, b := range l {
			if s, ok := b.(etf.Atom); ok {
				out = append(out, string(s))
			}
		}
	}
	return out, nil
}

// digest is MD5 over the chunks beam_lib:md5/1 reads, the literal table
// uncompressed so that a zlib of another version does not count.
func digest(chunks map[string][]byte) ([16]byte, error) {
	h := md5.New()
	for _, id := range []string{"Code", "AtU8", "Atom", "ImpT", "ExpT", "StrT", "FunT"} {
		if c, ok := chunks[id]; ok {
			h.Write([]byte(id))
			h.Write(c)
		}
	}
	if c, ok := chunks["LitT"]; ok && len(c) >= 4 {
		h.Write([]byte("LitT"))
		lit := c[4:]
		if zr, err := zlib.NewReader(bytes.NewReader(lit)); err == nil {
			var b bytes.Buffer
			if _, err := io.Copy(&b, io.LimitReader(zr, 64<<20)); err == nil {
				lit = b.Bytes()
			}
		}
		h.Write(lit)
	}
	var d [16]byte
	copy(d[:], h.Sum(nil))
	return d, nil
}
