package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"aead.dev/minisign"
)

// DefaultChunkSize is the payload chunk size of new bundles: the unit in
// which a download resumes.
const DefaultChunkSize = 1 << 20

// HashPayload fills in a payload's size and hashes from its file.
func HashPayload(path string, chunkSize int64) (Payload, error) {
	f, err := os.Open(path)
	if err != nil {
		return Payload{}, fmt.Errorf("reading payload: %w", err)
	}
	defer f.Close()
	p := Payload{ChunkSize: chunkSize, Chunks: []string{}}
	whole := sha256.New()
	buf := make([]byte, chunkSize)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			sum := sha256.Sum256(buf[:n])
			p.Chunks = append(p.Chunks, hex.EncodeToString(sum[:]))
			whole.Write(buf[:n])
			p.Size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return Payload{}, fmt.Errorf("reading payload: %w", err)
		}
	}
	p.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return p, nil
}

// SignManifest signs manifest bytes in minisign's prehashed (ED) form, with
// "name version" as the trusted comment.
func SignManifest(key minisign.PrivateKey, raw []byte, trustedComment string) []byte {
	r := minisign.NewReader(bytes.NewReader(raw))
	io.Copy(io.Discard, r)
	return r.SignWithComments(key, trustedComment, "signature from beamup secret key")
}

// Write writes a bundle: manifest, signature, then the payload file.
func Write(w io.Writer, raw, sig []byte, payloadPath string, m *Manifest) error {
	tw := tar.NewWriter(w)
	now := m.Created
	if now.IsZero() {
		now = time.Now()
	}
	for _, e := range []struct {
		name string
		data []byte
	}{{ManifestName, raw}, {SignatureName, sig}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: now, Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("writing bundle: %w", err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("writing bundle: %w", err)
		}
	}
	f, err := os.Open(payloadPath)
	if err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	defer f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: m.Payload.Path, Mode: 0o644, Size: m.Payload.Size, ModTime: now, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	if n, err := io.Copy(tw, f); err != nil || n != m.Payload.Size {
		return fmt.Errorf("writing bundle: payload changed while bundling (%d of %d bytes): %v", n, m.Payload.Size, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	return nil
}
