// Package serial is the device's serial console and the YMODEM-1K batch
// transfer that carries bundles over it, so that a technician with nothing
// but minicom, picocom, Tera Term or sz can install a bundle.
package serial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Protocol bytes.
const (
	soh  = 0x01 // 128-byte block
	stx  = 0x02 // 1024-byte block
	eot  = 0x04
	ack  = 0x06
	nak  = 0x15
	can  = 0x18
	crcC = 'C' // receiver asks for CRC-16 mode
	pad  = 0x1a
)

// Errors a transfer ends with.
var (
	ErrCancelled = errors.New("ymodem: cancelled by the other side (CAN CAN)")
	ErrTimeout   = errors.New("ymodem: timed out")
	ErrTooMany   = errors.New("ymodem: too many errors")
)

// Port is a serial line. ReadByte must return within its read timeout
// (ErrTimeout-like errors are treated as "nothing yet").
type Port interface {
	io.Writer
	// ReadTimeout reads up to len(p) bytes, waiting at most d.
	ReadTimeout(p []byte, d time.Duration) (int, error)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0).
func crc16(data []byte) uint16 {
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

// line reads a port through a buffer, with byte-level timeouts.
type line struct {
	p        Port
	buf      [4096]byte
	pos, end int
}

// Write and ReadTimeout make a line a Port itself, so that a console can
// hand its line, with what it has read ahead, to a transfer.
func (l *line) Write(b []byte) (int, error) { return l.p.Write(b) }

func (l *line) ReadTimeout(b []byte, d time.Duration) (int, error) {
	if l.pos < l.end {
		n := copy(b, l.buf[l.pos:l.end])
		l.pos += n
		return n, nil
	}
	return l.p.ReadTimeout(b, d)
}

// newLine wraps p, unless it is a line already.
func newLine(p Port) *line {
	if l, ok := p.(*line); ok {
		return l
	}
	return &line{p: p}
}

// poll is how often a read checks its context and deadline; fixed, so
// that the port's timeout is set once.
const poll = 100 * time.Millisecond

func (l *line) readByte(ctx context.Context, d time.Duration) (byte, error) {
	if l.pos < l.end {
		l.pos++
		return l.buf[l.pos-1], nil
	}
	deadline := time.Now().Add(d)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if !time.Now().Before(deadline) {
			return 0, ErrTimeout
		}
		n, err := l.p.ReadTimeout(l.buf[:], poll)
		if n > 0 {
			l.pos, l.end = 1, n
			return l.buf[0], nil
		}
		if err != nil && !errors.Is(err, ErrTimeout) {
			return 0, fmt.Errorf("ymodem: reading: %w", err)
		}
	}
}

// readFull reads len(p) bytes, each within d of the previous one.
func (l *line) readFull(ctx context.Context, p []byte, d time.Duration) error {
	for i := range p {
		b, err := l.readByte(ctx, d)
		if err != nil {
			return err
		}
		p[i] = b
	}
	return nil
}

// drain throws away what arrives until the line is quiet, so that a
// retransmission starts on a block boundary.
func (l *line) drain(ctx context.Context) {
	for {
		if _, err := l.readByte(ctx, 100*time.Millisecond); err != nil {
			return
		}
	}
}

func (l *line) send(b ...byte) error {
	_, err := l.p.Write(b)
	return err
}

// cancel tells the other side to stop.
func (l *line) cancel() { l.p.Write([]byte{can, can, can, can, can, 8, 8, 8, 8, 8}) }

// File is what block 0 announces.
type File struct {
	Name string
	Size int64
}

// Receiver settings; zero values take the defaults.
type Options struct {
	// BlockTimeout is how long one block may take (default 10s).
	BlockTimeout time.Duration
	// StartTimeout is how long the receiver waits for the sender to start
	// (default 60s: a person has to type the command).
	StartTimeout time.Duration
	// MaxErrors is how many bad blocks in a row end the transfer (default 10).
	MaxErrors int
	// MaxSize refuses a file announced larger than this (0: no limit).
	MaxSize int64
	// Progress, when set, is told the bytes transferred so far.
	Progress func(done, total int64)
}

func (o *Options) defaults() {
	if o.BlockTimeout == 0 {
		o.BlockTimeout = 10 * time.Second
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.MaxErrors == 0 {
		o.MaxErrors = 10
	}
}

// Receive takes one file of a YMODEM batch (CRC-16, 128 and 1024-byte
// blocks) and writes it to w; it answers further files of the batch with
// a cancel. It returns what block 0 announced.
func Receive(ctx context.Context, p Port, w io.Writer, o Options) (File, error) {
	o.defaults()
	l := newLine(p)
	f, err := receiveHeader(ctx, l, o)
	if err != nil {
		return f, err
	}
	if o.MaxSize > 0 && f.Size > o.MaxSize {
		l.cancel()
		return f, fmt.Errorf("ymodem: %s is %d bytes, more than the %d allowed", f.Name, f.Size, o.MaxSize)
	}
	if err := receiveData(ctx, l, w, f, o); err != nil {
		return f, err
	}
	// End of batch: ask for the next header, which must be empty.
	for errs := 0; ; errs++ {
		if errs >= o.MaxErrors {
			return f, nil // the file is complete; a sender that does not close the batch is its problem
		}
		l.send(crcC)
		blk, n, err := readBlock(ctx, l, o.BlockTimeout)
		if err == nil && n == 0 {
			l.send(ack)
			if name, _, _ := bytes.Cut(blk, []byte{0}); len(name) > 0 {
				l.cancel() // one file per transfer
			}
			return f, nil
		}
		if errors.Is(err, ErrCancelled) || ctx.Err() != nil {
			return f, nil
		}
	}
}

// receiveHeader asks for block 0 with 'C' until it comes.
func receiveHeader(ctx context.Context, l *line, o Options) (File, error) {
	start := time.Now()
	for errs := 0; ; {
		if time.Since(start) > o.StartTimeout {
			l.cancel()
			return File{}, fmt.Errorf("%w: no sender within %s", ErrTimeout, o.StartTimeout)
		}
		l.send(crcC)
		blk, n, err := readBlock(ctx, l, 3*time.Second)
		switch {
		case errors.Is(err, ErrTimeout) && errs == 0:
			continue // still waiting for the sender to start
		case errors.Is(err, ErrCancelled), ctx.Err() != nil:
			return File{}, errOr(ctx.Err(), err)
		case err != nil || n != 0:
			if errs++; errs >= o.MaxErrors {
				l.cancel()
				return File{}, fmt.Errorf("%w: no good block 0: %v", ErrTooMany, err)
			}
			l.drain(ctx)
			continue
		}
		name, rest, _ := bytes.Cut(blk, []byte{0})
		if len(name) == 0 {
			l.send(ack)
			return File{}, errors.New("ymodem: the sender's batch is empty")
		}
		fields := strings.Fields(string(bytes.TrimRight(rest, "\x00")))
		f := File{Name: string(name), Size: -1}
		if len(fields) > 0 {
			if f.Size, err = strconv.ParseInt(fields[0], 10, 64); err != nil {
				f.Size = -1
			}
		}
		if f.Size < 0 {
			l.cancel()
			return f, errors.New("ymodem: block 0 carries no file size")
		}
		l.send(ack)
		return f, nil
	}
}

// receiveData takes the data blocks up to EOT.
func receiveData(ctx context.Context, l *line, w io.Writer, f File, o Options) error {
	l.send(crcC)
	want := byte(1)
	var got int64
	eots, quiet := 0, 0
	for errs := 0; ; {
		blk, n, err := readBlock(ctx, l, o.BlockTimeout)
		if errors.Is(err, ErrTimeout) {
			// Three silences in a row: the sender is gone (a pulled cable),
			// not merely noisy.
			if quiet++; quiet >= 3 {
				l.cancel()
				return fmt.Errorf("%w: the sender went quiet after %d of %d bytes", ErrTimeout, got, f.Size)
			}
		} else {
			quiet = 0
		}
		switch {
		case errors.Is(err, errEOT):
			// The first EOT is answered with NAK, in case it was noise.
			if eots++; eots == 1 {
				l.send(nak)
				continue
			}
			l.send(ack)
			if got < f.Size {
				return fmt.Errorf("ymodem: the sender ended after %d of %d bytes", got, f.Size)
			}
			return nil
		case errors.Is(err, ErrCancelled), ctx.Err() != nil:
			return errOr(ctx.Err(), err)
		case err != nil:
			if errs++; errs >= o.MaxErrors {
				l.cancel()
				return fmt.Errorf("%w: %d bad blocks in a row, last: %v", ErrTooMany, errs, err)
			}
			l.drain(ctx)
			l.send(nak)
			continue
		case n == want-1:
			l.send(ack) // a repeat of the block we have: our ACK was lost
			continue
		case n != want:
			l.cancel()
			return fmt.Errorf("ymodem: block %d where %d belongs", n, want)
		}
		eots = 0
		errs = 0
		if rest := f.Size - got; int64(len(blk)) > rest {
			blk = blk[:max(rest, 0)] // the last block's padding
		}
		if _, err := w.Write(blk); err != nil {
			l.cancel()
			return fmt.Errorf("ymodem: writing: %w", err)
		}
		got += int64(len(blk))
		want++
		l.send(ack)
		if o.Progress != nil {
			o.Progress(got, f.Size)
		}
	}
}

var errEOT = errors.New("eot")

// readBlock reads one block: its number and data. It returns errEOT for
// EOT and ErrCancelled for CAN CAN.
func readBlock(ctx context.Context, l *line, timeout time.Duration) ([]byte, byte, error) {
	b, err := l.readByte(ctx, timeout)
	if err != nil {
		return nil, 0, err
	}
	var size int
	switch b {
	case soh:
		size = 128
	case stx:
		size = 1024
	case eot:
		return nil, 0, errEOT
	case can:
		if b2, err := l.readByte(ctx, time.Second); err == nil && b2 == can {
			return nil, 0, ErrCancelled
		}
		return nil, 0, errors.New("ymodem: stray CAN")
	default:
		return nil, 0, fmt.Errorf("ymodem: unexpected byte 0x%02x", b)
	}
	buf := make([]byte, 2+size+2)
	if err := l.readFull(ctx, buf, time.Second); err != nil {
		return nil, 0, fmt.Errorf("ymodem: short block: %w", err)
	}
	if buf[0] != ^buf[1] {
		return nil, 0, fmt.Errorf("ymodem: block number 0x%02x does not match its complement", buf[0])
	}
	data := buf[2 : 2+size]
	if got, want := crc16(data), uint16(buf[2+size])<<8|uint16(buf[3+size]); got != want {
		return nil, 0, fmt.Errorf("ymodem: block %d: CRC %04x, want %04x", buf[0], got, want)
	}
	return data, buf[0], nil
}

func errOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
