package serial

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/beamup/beamup/report"
)

// Prompt is what the console prints when it waits for a command.
const Prompt = "beamup> "

// Installer is what the console needs of the updater.
type Installer interface {
	// InstallFrom installs the bundle read from r; the console's transfer
	// feeds it as the bytes arrive.
	InstallFrom(ctx context.Context, name string, r io.Reader) (*report.Result, error)
	Rollback(ctx context.Context) (*report.Result, error)
	Status(ctx context.Context) (*report.Status, error)
}

// Console is the device's serial console: one command a line, answers a
// person can read and a program can parse. Outcomes are printed as
// "<outcome>: <reason>" lines, the same words as beamupd's exit codes.
type Console struct {
	Port       Port
	Installer  Installer
	StagingDir string
	// MaxSize bounds a received bundle (default 1 GiB).
	MaxSize int64
	// Log keeps recent events for the log command.
	Log *Ring

	mu sync.Mutex
	// busy: an operation started here is under way, its steps shown;
	// held: they are held while a transfer still uses the line.
	busy, held bool
	pending    []string
	in         *line // the port with what has been read ahead
}

// Event records a step of any operation; while the console runs one
// itself, the step is printed as it happens.
func (c *Console) Event(e report.Event) {
	c.Log.Add("%s", e.Message)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.held:
		c.pending = append(c.pending, e.Message)
	case c.busy:
		c.printf("  %s\r\n", e.Message)
	}
}

// show sets whether the steps of an operation started here are shown; a
// receive holds them until its transfer has left the line, then shows
// what it held.
func (c *Console) show(busy, held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy, c.held = busy, held
	if !held {
		if busy {
			for _, m := range c.pending {
				c.printf("  %s\r\n", m)
			}
		}
		c.pending = nil
	}
}

// NewConsole returns a console on port.
func NewConsole(port Port, inst Installer, stagingDir string) *Console {
	return &Console{Port: port, Installer: inst, StagingDir: stagingDir, Log: NewRing(200)}
}

// Run serves the console until ctx is done.
func (c *Console) Run(ctx context.Context) error {
	if c.MaxSize == 0 {
		c.MaxSize = 1 << 30
	}
	c.in = newLine(c.Port)
	c.printf("\r\nbeamup console; type help\r\n")
	for ctx.Err() == nil {
		c.printf("%s", Prompt)
		cmd, err := c.readLine(ctx)
		if err != nil {
			return nil
		}
		switch strings.TrimSpace(cmd) {
		case "":
		case "help":
			c.printf("commands:\r\n" +
				"  status    the device's status as JSON\r\n" +
				"  receive   take a bundle by YMODEM (1K, CRC-16), then install it\r\n" +
				"  log       recent events\r\n" +
				"  rollback  go back to the previous permanent release\r\n")
		case "status":
			c.status(ctx)
		case "receive":
			c.receive(ctx)
		case "log":
			for _, l := range c.Log.Lines() {
				c.printf("%s\r\n", l)
			}
		case "rollback":
			c.show(true, false)
			r, err := c.Installer.Rollback(ctx)
			c.show(false, false)
			c.outcome(r, err)
		default:
			c.printf("unknown command %q; try help\r\n", cmd)
		}
	}
	return nil
}

func (c *Console) printf(format string, args ...any) {
	fmt.Fprintf(c.Port, format, args...)
}

// readLine reads a line, echoing what is typed; backspace deletes.
func (c *Console) readLine(ctx context.Context) (string, error) {
	var b []byte
	for {
		ch, err := c.in.readByte(ctx, time.Hour)
		if err == ErrTimeout {
			continue
		}
		if err != nil {
			return "", err
		}
		switch ch {
		case '\r', '\n':
			c.printf("\r\n")
			return string(b), nil
		case 0x7f, 0x08:
			if len(b) > 0 {
				b = b[:len(b)-1]
				c.printf("\b \b")
			}
		case 0x03: // Ctrl-C drops the line
			b = b[:0]
			c.printf("^C\r\n%s", Prompt)
		default:
			if ch >= 0x20 && ch < 0x7f && len(b) < 256 {
				b = append(b, ch)
				c.Port.Write([]byte{ch})
			}
		}
	}
}

func (c *Console) status(ctx context.Context) {
	s, err := c.Installer.Status(ctx)
	if err != nil {
		c.printf("failed: %v\r\n", err)
		return
	}
	data, _ := json.Marshal(s)
	c.printf("%s\r\n", data)
}

// receive takes a bundle into staging and installs it. A transfer broken
// off leaves nothing behind.
func (c *Console) receive(ctx context.Context) {
	if err := os.MkdirAll(c.StagingDir, 0o755); err != nil {
		c.printf("failed: %v\r\n", err)
		return
	}
	// The bundle goes to the install as it arrives: verified as it
	// streams into staging, written once. A transfer that breaks off ends
	// the install's read with a TransferError: nothing is installed, and
	// nothing is recorded as rejected.
	pr, pw := io.Pipe()
	type installed struct {
		r   *report.Result
		err error
	}
	done := make(chan installed, 1)
	c.show(true, true) // the install runs as the bytes arrive
	go func() {
		r, err := c.Installer.InstallFrom(ctx, "bundle from the serial console", pr)
		// An install that stopped reading (refused, busy) stops the
		// transfer too.
		pr.CloseWithError(errInstallEnded)
		done <- installed{r, err}
	}()
	// No capital C (the YMODEM start byte) and no control bytes: a sender
	// started now may still read the end of this line.
	c.printf("ready: send the bundle by ymodem now (1k blocks, crc-16); ctrl-x ctrl-x aborts\r\n")
	file, err := Receive(ctx, c.in, pw, Options{MaxSize: c.MaxSize})
	if err != nil {
		pw.CloseWithError(&report.TransferError{Err: err})
	} else {
		pw.Close()
	}
	// Let a sender's closing bytes pass before the line carries text.
	c.in.drain(ctx)
	if err != nil && !errors.Is(err, errInstallEnded) {
		<-done
		c.show(false, false)
		c.Log.Add("receive failed: transfer broken off: %v", err)
		c.printf("\r\nreceive failed: transfer broken off (%v); nothing was installed\r\n", err)
		c.reply(Reply{NotReceived: true, Reason: err.Error()})
		return
	}
	if err == nil {
		c.Log.Add("received %s (%d bytes)", file.Name, file.Size)
		c.printf("received %s (%d bytes); installing\r\n", file.Name, file.Size)
	}
	c.show(true, false)
	res := <-done
	c.show(false, false)
	c.outcome(res.r, res.err)
}

// errInstallEnded ends a transfer whose install stopped reading.
var errInstallEnded = errors.New("the install ended before the transfer")

// outcome prints how an operation ended as "<outcome>: <reason>" for a
// person, then as a Reply for a program.
func (c *Console) outcome(r *report.Result, err error) {
	switch {
	case r != nil:
		c.Log.Add("%s: %s", r.Outcome, r.Reason)
		c.printf("%s: %s\r\n", r.Outcome, r.Reason)
		c.reply(Reply{Outcome: r.Outcome, Kind: r.Kind, Version: r.Version, Reason: r.Reason})
	case err != nil:
		c.Log.Add("%v", err)
		c.printf("%v\r\n", err) // "busy: ..." and the like
		c.reply(Reply{Busy: errors.Is(err, report.ErrBusy), Reason: err.Error()})
	}
}

// Reply is how a receive or a rollback ended, as the console's last line
// before the prompt says it to a program: {"reply": {...}}.
type Reply struct {
	// Outcome is the operation's; staged for a new beamupd that the
	// device tries before it hands over to it. Empty when none ran.
	Outcome report.Outcome `json:"outcome,omitempty"`
	Kind    string         `json:"kind,omitempty"`
	Version string         `json:"version,omitempty"`
	Reason  string         `json:"reason"`
	// Busy: another operation runs; nothing was done.
	Busy bool `json:"busy,omitempty"`
	// NotReceived: the transfer broke off; nothing was installed.
	NotReceived bool `json:"not_received,omitempty"`
}

func (c *Console) reply(r Reply) {
	data, _ := json.Marshal(map[string]Reply{"reply": r})
	c.printf("%s\r\n", data)
}

// Ring keeps the last lines logged, for the log command.
type Ring struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func NewRing(max int) *Ring { return &Ring{max: max} }

// Add records a line with the time.
func (r *Ring) Add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, time.Now().UTC().Format(time.RFC3339)+" "+fmt.Sprintf(format, args...))
	if len(r.lines) > r.max {
		r.lines = r.lines[len(r.lines)-r.max:]
	}
}

// Lines returns the recorded lines, oldest first.
func (r *Ring) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}
