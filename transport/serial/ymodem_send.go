package serial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Send sends one file as a YMODEM batch of one, in 1024-byte blocks with
// CRC-16, and closes the batch. r must give exactly f.Size bytes.
func Send(ctx context.Context, p Port, f File, r io.Reader, o Options) error {
	o.defaults()
	l := newLine(p)
	if err := waitFor(ctx, l, crcC, o.StartTimeout); err != nil {
		return fmt.Errorf("ymodem: the receiver did not start: %w", err)
	}
	hdr := make([]byte, 128)
	n := copy(hdr, f.Name)
	copy(hdr[n+1:], strconv.FormatInt(f.Size, 10))
	if err := sendBlock(ctx, l, 0, hdr, o); err != nil {
		return err
	}
	if err := waitFor(ctx, l, crcC, o.BlockTimeout); err != nil {
		return fmt.Errorf("ymodem: the receiver did not ask for data: %w", err)
	}
	buf := make([]byte, 1024)
	var sent int64
	for blk := byte(1); sent < f.Size; blk++ {
		k, err := io.ReadFull(r, buf[:min(int64(len(buf)), f.Size-sent)])
		if err != nil {
			l.cancel()
			return fmt.Errorf("ymodem: reading the file: %w", err)
		}
		data := buf // a 1024-byte block, the tail padded
		if k <= 128 {
			data = buf[:128] // a short tail goes in a 128-byte block
		}
		for i := k; i < len(data); i++ {
			data[i] = pad
		}
		if err := sendBlock(ctx, l, blk, data, o); err != nil {
			return err
		}
		sent += int64(k)
		if o.Progress != nil {
			o.Progress(sent, f.Size)
		}
	}
	// EOT until it is acknowledged (a receiver NAKs the first).
	for tries := 0; ; tries++ {
		if tries >= o.MaxErrors {
			return fmt.Errorf("%w: EOT not acknowledged", ErrTooMany)
		}
		l.send(eot)
		b, err := l.readByte(ctx, o.BlockTimeout)
		if err == nil && b == ack {
			break
		}
		if err != nil && !errors.Is(err, ErrTimeout) {
			return err
		}
	}
	// Close the batch with an empty block 0. The file is through by now:
	// a receiver that does not ask again, or exits without acknowledging
	// the empty block (rz sometimes does), has what it needs.
	if err := waitFor(ctx, l, crcC, 3*time.Second); err != nil {
		return nil
	}
	closing := o
	closing.MaxErrors, closing.BlockTimeout = 1, 3*time.Second
	sendBlock(ctx, l, 0, make([]byte, 128), closing)
	return nil
}

// sendBlock sends one block until it is acknowledged.
func sendBlock(ctx context.Context, l *line, n byte, data []byte, o Options) error {
	frame := make([]byte, 0, 3+len(data)+2)
	if len(data) == 1024 {
		frame = append(frame, stx)
	} else {
		frame = append(frame, soh)
	}
	frame = append(frame, n, ^n)
	frame = append(frame, data...)
	crc := crc16(data)
	frame = append(frame, byte(crc>>8), byte(crc))
	for tries := 0; tries < o.MaxErrors; tries++ {
		if _, err := l.p.Write(frame); err != nil {
			return fmt.Errorf("ymodem: writing: %w", err)
		}
	answer:
		for {
			b, err := l.readByte(ctx, o.BlockTimeout)
			switch {
			case errors.Is(err, ErrTimeout):
				break answer // send again
			case err != nil:
				return err
			case b == ack:
				return nil
			case b == nak, b == crcC:
				break answer // the receiver wants it again
			case b == can:
				if b2, err := l.readByte(ctx, time.Second); err == nil && b2 == can {
					return ErrCancelled
				}
			}
			// anything else is noise: wait for a real answer
		}
	}
	l.cancel()
	return fmt.Errorf("%w: block %d not acknowledged", ErrTooMany, n)
}

// waitFor waits for byte want, ignoring anything else; CAN CAN aborts.
func waitFor(ctx context.Context, l *line, want byte, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		b, err := l.readByte(ctx, time.Until(deadline))
		if err != nil {
			return err
		}
		switch b {
		case want:
			return nil
		case can:
			if b2, err := l.readByte(ctx, time.Second); err == nil && b2 == can {
				return ErrCancelled
			}
		}
	}
}
