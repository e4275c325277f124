package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"aead.dev/minisign"
)

// Names of the bundle's first two tar entries.
const (
	ManifestName  = "manifest.json"
	SignatureName = ManifestName + ".minisig"
)

// ErrSignature is returned when no trusted key verifies the manifest.
var ErrSignature = errors.New("signature")

// ID is the hex SHA-256 of the manifest bytes.
func ID(manifest []byte) string {
	sum := sha256.Sum256(manifest)
	return hex.EncodeToString(sum[:])
}

// Header is a bundle's verified manifest and its raw bytes.
type Header struct {
	Manifest  *Manifest
	Raw       []byte
	Signature []byte
	// TrustedComment is the signed comment of the signature.
	TrustedComment string
}

// ID is the bundle's id.
func (h *Header) ID() string { return ID(h.Raw) }

// VerifyManifest checks the manifest's signature against the trusted keys
// before it parses a single field of it.
func VerifyManifest(keys []minisign.PublicKey, raw, sig []byte) (*Header, error) {
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return nil, fmt.Errorf("%w: unreadable signature: %v", ErrSignature, err)
	}
	verified := false
	for _, k := range keys {
		if minisign.Verify(k, raw, sig) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fmt.Errorf("%w: manifest is not signed by a trusted key (signed by key %X)", ErrSignature, s.KeyID)
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	return &Header{Manifest: m, Raw: raw, Signature: sig, TrustedComment: s.TrustedComment}, nil
}

// Verify reads a bundle from r: it verifies the manifest's signature,
// lets check decide whether the bundle is wanted here, and then streams the
// payload to dst while it checks every chunk's and the whole payload's
// SHA-256. It holds one chunk in memory at most. dst has received exactly
// the payload's bytes when Verify returns nil; on error, what dst received
// must be thrown away.
func Verify(ctx context.Context, r io.Reader, keys []minisign.PublicKey, check func(*Header) error, dst io.Writer) (*Header, error) {
	return VerifyWith(ctx, r, keys, Options{Check: check}, dst)
}

// Options are what VerifyWith does beside verifying.
type Options struct {
	// Check decides, once the manifest has verified and before a payload
	// byte is read, whether the bundle is wanted here.
	Check func(*Header) error
	// Verified is told, each time a chunk has verified, how many bytes
	// from the payload's start have: dst has received them before.
	Verified func(n int64)
}

// VerifyWith is Verify with options.
func VerifyWith(ctx context.Context, r io.Reader, keys []minisign.PublicKey, o Options, dst io.Writer) (*Header, error) {
	tr := tar.NewReader(r)
	raw, sig, err := readHead(tr)
	if err != nil {
		return nil, err
	}
	h, err := VerifyManifest(keys, raw, sig)
	if err != nil {
		return nil, err
	}
	if o.Check != nil {
		if err := o.Check(h); err != nil {
			return h, err
		}
	}
	ph, err := tr.Next()
	if err != nil {
		return h, fmt.Errorf("bundle: reading payload entry: %w", err)
	}
	if ph.Name != h.Manifest.Payload.Path {
		return h, fmt.Errorf("bundle: third entry is %q, manifest names %q", ph.Name, h.Manifest.Payload.Path)
	}
	if ph.Size != h.Manifest.Payload.Size {
		return h, fmt.Errorf("bundle: payload is %d bytes, manifest says %d", ph.Size, h.Manifest.Payload.Size)
	}
	cw := NewChunkVerifier(h.Manifest.Payload, 0)
	cw.Verified = o.Verified
	// dst first: a chunk is announced verified once dst holds it.
	if _, err := copyContext(ctx, io.MultiWriter(dst, cw), tr); err != nil {
		return h, err
	}
	if err := cw.Close(); err != nil {
		return h, err
	}
	return h, nil
}

// readHead reads the manifest and signature entries that open a bundle.
func readHead(tr *tar.Reader) (raw, sig []byte, err error) {
	if raw, err = readEntry(tr, ManifestName, MaxManifestSize); err != nil {
		return nil, nil, err
	}
	if sig, err = readEntry(tr, SignatureName, 64<<10); err != nil {
		return nil, nil, err
	}
	return raw, sig, nil
}

func readEntry(tr *tar.Reader, name string, max int64) ([]byte, error) {
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("bundle: reading %s: %w", name, err)
	}
	if h.Name != name {
		return nil, fmt.Errorf("bundle: entry %q where %s belongs", h.Name, name)
	}
	if h.Size > max {
		return nil, fmt.Errorf("bundle: %s is %d bytes, more than %d", name, h.Size, max)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, tr); err != nil {
		return nil, fmt.Errorf("bundle: reading %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// ChunkVerifier checks written bytes against a payload's chunk hashes and
// whole hash. It fails at the first chunk that does not match.
type ChunkVerifier struct {
	p       Payload
	chunk   int
	inChunk int64
	written int64
	ch      hashWriter
	whole   hashWriter
	// fromStart says the whole payload passed through this verifier.
	fromStart bool
	// Verified, when set, is told after each chunk that verified how many
	// bytes from the payload's start have.
	Verified func(n int64)
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
	Reset()
}

// NewChunkVerifier verifies a payload from chunk number first on (for a
// download that resumes); the whole-payload hash is checked only from 0.
func NewChunkVerifier(p Payload, first int) *ChunkVerifier {
	return &ChunkVerifier{p: p, chunk: first, fromStart: first == 0, written: int64(first) * p.ChunkSize, ch: sha256.New(), whole: sha256.New()}
}

func (v *ChunkVerifier) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if v.written >= v.p.Size {
			return 0, fmt.Errorf("payload: more than the %d bytes the manifest says", v.p.Size)
		}
		room := v.p.ChunkSize - v.inChunk
		if rest := v.p.Size - v.written; rest < room {
			room = rest
		}
		take := int64(len(b))
		if take > room {
			take = room
		}
		v.ch.Write(b[:take])
		v.whole.Write(b[:take])
		v.inChunk += take
		v.written += take
		b = b[take:]
		if v.inChunk == v.p.ChunkSize || v.written == v.p.Size {
			if err := v.endChunk(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (v *ChunkVerifier) endChunk() error {
	got := hex.EncodeToString(v.ch.Sum(nil))
	if got != v.p.Chunks[v.chunk] {
		return fmt.Errorf("payload: chunk %d has sha256 %s, manifest says %s", v.chunk, got, v.p.Chunks[v.chunk])
	}
	v.chunk++
	v.inChunk = 0
	v.ch.Reset()
	if v.Verified != nil {
		v.Verified(v.written)
	}
	return nil
}

// Close checks that the whole payload arrived and matches its hash.
func (v *ChunkVerifier) Close() error {
	if v.written != v.p.Size {
		return fmt.Errorf("payload: %d of %d bytes arrived", v.written, v.p.Size)
	}
	if !v.fromStart {
		return nil // every chunk matched; the whole hash needs every byte
	}
	if got := hex.EncodeToString(v.whole.Sum(nil)); got != v.p.SHA256 {
		return fmt.Errorf("payload: sha256 %s, manifest says %s", got, v.p.SHA256)
	}
	return nil
}

// copyContext copies in blocks and stops when ctx is done.
func copyContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := src.Read(buf)
		if k > 0 {
			if _, err := dst.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("reading payload: %w", rerr)
		}
	}
}

// ReadHeader reads a bundle's manifest and signature without verifying
// them, for display only.
func ReadHeader(r io.Reader) (*Header, error) {
	raw, sig, err := readHead(tar.NewReader(r))
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	var s minisign.Signature
	s.UnmarshalText(sig)
	return &Header{Manifest: m, Raw: raw, Signature: sig, TrustedComment: s.TrustedComment}, nil
}
