package serial

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// fuzzPort plays back what a sender on the line sent, then the cable is
// pulled (EOF); what the receiver writes back is dropped.
type fuzzPort struct{ r *bytes.Reader }

func (p *fuzzPort) Write(b []byte) (int, error) { return len(b), nil }
func (p *fuzzPort) ReadTimeout(b []byte, _ time.Duration) (int, error) {
	return p.r.Read(b)
}

// Whatever arrives on the line, the YMODEM receiver ends with an error or
// with a file whose bytes it wrote are no more than its announced size; it
// never panics and never waits for a line that has gone.
func FuzzReceive(f *testing.F) {
	var good bytes.Buffer
	Send(context.Background(), &recorder{w: &good}, File{Name: "b.bundle", Size: 3000},
		bytes.NewReader(bytes.Repeat([]byte("x"), 3000)), Options{})
	f.Add(good.Bytes())
	f.Add([]byte{soh, 0, 0xff})
	f.Add([]byte{can, can})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		file, err := Receive(ctx, &fuzzPort{bytes.NewReader(data)}, &out, Options{BlockTimeout: 50 * time.Millisecond,
			StartTimeout: 50 * time.Millisecond, MaxErrors: 3, MaxSize: 1 << 20})
		if ctx.Err() != nil {
			t.Fatal("the receiver waited on a line that had gone")
		}
		if err == nil && int64(out.Len()) > file.Size {
			t.Fatalf("wrote %d bytes of a %d-byte file", out.Len(), file.Size)
		}
	})
}

// recorder is a sender's port that keeps what the sender wrote and
// answers as a receiver that takes every block would.
type recorder struct {
	w       io.Writer
	pending []byte
}

func (r *recorder) Write(b []byte) (int, error) {
	r.w.Write(b)
	r.pending = append(r.pending, ack)
	if len(b) > 0 && (b[0] == soh || b[0] == stx) && len(b) > 3 && b[1] == 0 {
		r.pending = append(r.pending, crcC)
	}
	return len(b), nil
}

func (r *recorder) ReadTimeout(b []byte, _ time.Duration) (int, error) {
	if len(r.pending) == 0 {
		r.pending = []byte{crcC}
	}
	n := copy(b, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}
