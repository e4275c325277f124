package serial

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Session talks to a device's console from the other end of the cable,
// as beamup serial does.
type Session struct {
	p Port
	l *line
}

// Attach wakes the console and waits for its prompt.
func Attach(ctx context.Context, p Port) (*Session, error) {
	s := &Session{p: p, l: newLine(p)}
	for try := 0; try < 3; try++ {
		if _, err := p.Write([]byte("\x03\r")); err != nil {
			return nil, err
		}
		if _, err := s.until(ctx, Prompt, 3*time.Second, nil); err == nil {
			s.l.drain(ctx)
			return s, nil
		}
	}
	return nil, fmt.Errorf("no beamup console on the line (no %q prompt)", Prompt)
}

// until reads until the output ends with marker, giving up when the line
// is quiet for idle. It calls onLine with every complete line.
func (s *Session) until(ctx context.Context, marker string, idle time.Duration, onLine func(string)) (string, error) {
	var all, cur bytes.Buffer
	for {
		b, err := s.l.readByte(ctx, idle)
		if err != nil {
			return all.String(), fmt.Errorf("waiting for %q: %w", marker, err)
		}
		all.WriteByte(b)
		if b == '\n' {
			if onLine != nil {
				onLine(strings.TrimRight(cur.String(), "\r"))
			}
			cur.Reset()
		} else {
			cur.WriteByte(b)
		}
		if bytes.HasSuffix(all.Bytes(), []byte(marker)) {
			return all.String(), nil
		}
	}
}

// Command runs a console command and returns its output lines (without
// the echo of the command and the next prompt). idle bounds the silence
// between two lines: an install prints a line per step.
func (s *Session) Command(ctx context.Context, cmd string, idle time.Duration, onLine func(string)) ([]string, error) {
	if _, err := io.WriteString(s.p, cmd+"\r"); err != nil {
		return nil, err
	}
	var lines []string
	echo := true
	_, err := s.until(ctx, Prompt, idle, func(l string) {
		if echo && strings.HasSuffix(l, cmd) {
			echo = false
			return
		}
		lines = append(lines, l)
		if onLine != nil {
			onLine(l)
		}
	})
	return lines, err
}

// Push sends a bundle with the console's receive command and returns the
// lines the device printed while it installed it.
func (s *Session) Push(ctx context.Context, f File, r io.Reader, progress func(done, total int64), onLine func(string)) ([]string, error) {
	if _, err := io.WriteString(s.p, "receive\r"); err != nil {
		return nil, err
	}
	if _, err := s.until(ctx, "ready:", 10*time.Second, nil); err != nil {
		return nil, err
	}
	if _, err := s.until(ctx, "\n", 10*time.Second, nil); err != nil {
		return nil, err
	}
	// A device that cancels the transfer has refused what came: its
	// reason and its reply follow, up to the prompt.
	if err := Send(ctx, s.l, f, r, Options{Progress: progress}); err != nil && !errors.Is(err, ErrCancelled) {
		return nil, fmt.Errorf("sending %s: %w", f.Name, err)
	}
	var lines []string
	_, err := s.until(ctx, Prompt, 10*time.Minute, func(l string) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
			if onLine != nil {
				onLine(l)
			}
		}
	})
	return lines, err
}

// ReplyOf finds the console's reply line in its output.
func ReplyOf(lines []string) (Reply, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		var r struct {
			Reply *Reply `json:"reply"`
		}
		if strings.HasPrefix(lines[i], "{") && json.Unmarshal([]byte(lines[i]), &r) == nil && r.Reply != nil {
			return *r.Reply, true
		}
	}
	return Reply{}, false
}
