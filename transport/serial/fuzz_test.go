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
//
// The seeds are kept small on purpose. When the fuzzer finds new coverage
// it minimizes the input, and Go's minimizer tries removing every span of
// it: quadratic in the input's length, for up to -fuzzminimizetime (60s)
// each time. A YMODEM input can hardly be shortened (every byte of a block
// is under its CRC), so a seed of several 1024-byte blocks made the fuzzer
// spend nearly all its time minimizing, at tens of counted execs a second.
// 128-byte blocks reach the same code as 1024-byte ones.
func FuzzReceive(f *testing.F) {
	// A whole batch as Send makes it: block 0, one data block, EOT, EOT,
	// the empty block 0 that closes the batch.
	var good bytes.Buffer
	Send(context.Background(), &recorder{w: &good}, File{Name: "b.bundle", Size: 100},
		bytes.NewReader(bytes.Repeat([]byte("x"), 100)), Options{})
	f.Add(good.Bytes())
	data := bytes.Repeat([]byte("0123456789abcdef"), 16) // 256 bytes
	// Two blocks, the first repeated (the sender missed our ACK), then a
	// second file in the batch (refused with a cancel).
	f.Add(cat(header("b.bundle", "200 14750316440 100644"), block(1, data[:128]), block(1, data[:128]),
		block(2, data[128:200]), []byte{eot, eot}, header("c.bundle", "1")))
	// More blocks than the announced size: the receiver writes no more
	// than 130 bytes.
	f.Add(cat(header("b", "130"), block(1, data[:128]), block(2, data[128:]), block(3, data[:128]),
		[]byte{eot, eot}, block(0, nil)))
	// The sender ends early; a block out of order; a cancel mid-transfer.
	f.Add(cat(header("b", "300"), block(1, data[:128]), []byte{eot, eot}))
	f.Add(cat(header("b", "300"), block(2, data[:128])))
	f.Add(cat(header("b", "300"), block(1, data[:128]), []byte{can, can}))
	// Block 0: too large a file, no size, an empty batch.
	f.Add(header("b", "1048577"))
	f.Add(header("b", ""))
	f.Add(block(0, nil))
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

// block frames data as block n: 128 bytes (1024 if longer), padded with
// SUB (block 0 with NULs), and its CRC.
func block(n byte, data []byte) []byte {
	typ, size, fill := byte(soh), 128, byte(pad)
	if len(data) > 128 {
		typ, size = stx, 1024
	}
	if n == 0 {
		fill = 0
	}
	payload := bytes.Repeat([]byte{fill}, size)
	copy(payload, data)
	crc := crc16(payload)
	return cat([]byte{typ, n, ^n}, payload, []byte{byte(crc >> 8), byte(crc)})
}

// header is block 0 announcing name with fields (size, and what else sz
// sends: modification time, mode).
func header(name, fields string) []byte {
	return block(0, []byte(name+"\x00"+fields))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// recorder is a sender's port that keeps what the sender wrote and
// answers as a receiver that takes every block would: it NAKs the first
// EOT, as Receive does.
type recorder struct {
	w       io.Writer
	pending []byte
	eots    int
}

func (r *recorder) Write(b []byte) (int, error) {
	r.w.Write(b)
	if len(b) == 1 && b[0] == eot {
		if r.eots++; r.eots == 1 {
			r.pending = append(r.pending, nak)
			return len(b), nil
		}
	}
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
