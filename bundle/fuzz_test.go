package bundle

import (
	"bytes"
	"context"
	"io"
	"testing"

	"aead.dev/minisign"
)

// Whatever bytes arrive as a bundle, Verify ends with an error or with a
// payload that is exactly what the signed manifest describes; it never
// panics and never hands out more than the manifest's size.
func FuzzVerify(f *testing.F) {
	good, pub, _ := testBundle(f, bytes.Repeat([]byte("payload "), 4096), 4096)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		h, err := Verify(context.Background(), bytes.NewReader(data), []minisign.PublicKey{pub}, func(*Header) error { return nil }, &out)
		if err != nil {
			return
		}
		if int64(out.Len()) != h.Manifest.Payload.Size {
			t.Fatalf("verified a payload of %d bytes, manifest says %d", out.Len(), h.Manifest.Payload.Size)
		}
	})
}

// A manifest is signed before it is parsed, but the parser must still
// stand any bytes: an error or a manifest, never a panic.
func FuzzParseManifest(f *testing.F) {
	good, _, _ := testBundle(f, []byte("x"), 1)
	if h, err := ReadHeader(bytes.NewReader(good)); err == nil {
		f.Add(h.Raw)
	}
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseManifest(data)
		ReadHeader(io.MultiReader(bytes.NewReader(data)))
	})
}
