package serial

import (
	"fmt"
	"time"

	"go.bug.st/serial"
)

// SerialPort is a serial device opened 8N1, such as /dev/ttyGS0 on a
// device or /dev/ttyUSB0 on a laptop.
type SerialPort struct {
	p       serial.Port
	timeout time.Duration
}

// Open opens dev at baud, 8 data bits, no parity, one stop bit.
func Open(dev string, baud int) (*SerialPort, error) {
	p, err := serial.Open(dev, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dev, err)
	}
	return &SerialPort{p: p, timeout: -1}, nil
}

func (s *SerialPort) Write(b []byte) (int, error) { return s.p.Write(b) }

// ReadTimeout reads what arrives within d; nothing is ErrTimeout.
func (s *SerialPort) ReadTimeout(b []byte, d time.Duration) (int, error) {
	if d != s.timeout {
		if err := s.p.SetReadTimeout(d); err != nil {
			return 0, err
		}
		s.timeout = d
	}
	n, err := s.p.Read(b)
	if n == 0 && err == nil {
		return 0, ErrTimeout
	}
	return n, err
}

func (s *SerialPort) Close() error { return s.p.Close() }
