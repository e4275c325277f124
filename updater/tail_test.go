package updater

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The tail reads what has verified and no further, waits for more while
// the file grows, and ends as the verification does.
func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "payload")
	w, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, _ := os.Open(p)
	defer r.Close()
	tl := newTail(r)
	want := bytes.Repeat([]byte("0123456789"), 10000)
	go func() {
		for off := 0; off < len(want); off += 3000 {
			end := min(off+3000, len(want))
			w.Write(want[off:end])
			w.Write([]byte("unverified")) // written, not yet verified
			w.Seek(int64(end), io.SeekStart)
			tl.verified(int64(end))
		}
		tl.stop(nil)
	}()
	got, err := io.ReadAll(tl)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want the %d verified", len(got), err, len(want))
	}

	bad := errors.New("chunk 3 does not match")
	tl = newTail(r)
	tl.verified(10)
	tl.stop(bad)
	if _, err := io.ReadAll(tl); !errors.Is(err, bad) {
		t.Errorf("a failed verification reads as %v", err)
	}
}
