// Command serialbench is make bench's serial figure: a file sent over two
// pseudo-terminal pairs joined by a relay that passes bytes no faster than
// a 115200-baud 8N1 line (11520 bytes/s each way), once with beamup's
// YMODEM (transport/serial Send to Receive) and once with lrzsz's
// sz --ymodem to rz --ymodem. It prints the seconds each took.
//
// With -relay it only makes the paced line, prints its two ends and keeps
// it up until its standard input closes: make bench pushes a bundle over
// it to a beamupd run.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/beamup/beamup/transport/serial"
)

func main() {
	size := flag.Int("size", 256<<10, "bytes to send")
	rate := flag.Int("rate", 11520, "bytes per second the line carries")
	relay := flag.Bool("relay", false, "make the paced line, print its ends, keep it until stdin closes")
	flag.Parse()
	dir, _ := os.MkdirTemp("", "serialbench")
	defer os.RemoveAll(dir)
	if *relay {
		a, b, stop := link(dir, *rate)
		fmt.Println(a, b)
		io.Copy(io.Discard, os.Stdin)
		stop()
		return
	}
	data := make([]byte, *size)
	rand.Read(data)
	file := filepath.Join(dir, "payload.bin")
	os.WriteFile(file, data, 0o644)

	sendEnd, recvEnd, stop := link(dir, *rate)
	defer stop()
	ours := measure(func() error {
		sp, err := serial.Open(sendEnd, 115200)
		if err != nil {
			return err
		}
		defer sp.Close()
		rp, err := serial.Open(recvEnd, 115200)
		if err != nil {
			return err
		}
		defer rp.Close()
		errc := make(chan error, 1)
		go func() {
			errc <- serial.Send(context.Background(), sp, serial.File{Name: "payload.bin", Size: int64(len(data))}, bytes.NewReader(data), serial.Options{})
		}()
		var got bytes.Buffer
		if _, err := serial.Receive(context.Background(), rp, &got, serial.Options{}); err != nil {
			return err
		}
		if !bytes.Equal(got.Bytes(), data) {
			return fmt.Errorf("received bytes differ")
		}
		return nil // timed until the receiver has the file, as for rz
	})
	fmt.Fprintf(os.Stderr, "beamup: %.2f s\n", ours)
	stop()

	sendEnd, recvEnd, stop = link(dir, *rate)
	defer stop()
	out := filepath.Join(dir, "rz")
	os.MkdirAll(out, 0o755)
	theirs := measure(func() error {
		st, _ := os.OpenFile(sendEnd, os.O_RDWR, 0)
		rt, _ := os.OpenFile(recvEnd, os.O_RDWR, 0)
		defer st.Close()
		defer rt.Close()
		rz := exec.Command("rz", "--ymodem", "-y")
		rz.Dir, rz.Stdin, rz.Stdout = out, rt, rt
		sz := exec.Command("sz", "--ymodem", file)
		sz.Stdin, sz.Stdout = st, st
		if err := rz.Start(); err != nil {
			return err
		}
		if err := sz.Start(); err != nil {
			return err
		}
		// Timed until rz has the file; sz may wait on after it.
		defer func() { sz.Process.Kill(); sz.Wait() }()
		if err := rz.Wait(); err != nil {
			return fmt.Errorf("rz: %w", err)
		}
		if got, err := os.ReadFile(filepath.Join(out, "payload.bin")); err != nil || !bytes.Equal(got, data) {
			return fmt.Errorf("rz received other bytes (%v)", err)
		}
		return nil
	})
	fmt.Printf("%.2f %.2f\n", ours, theirs)
}

func measure(f func() error) float64 {
	t0 := time.Now()
	if err := f(); err != nil {
		fmt.Fprintln(os.Stderr, "serialbench:", err)
		os.Exit(1)
	}
	return time.Since(t0).Seconds()
}

// link makes sender <-> relay <-> receiver out of two socat pty pairs and
// returns the sender's and the receiver's ends.
func link(dir string, rate int) (string, string, func()) {
	n := time.Now().UnixNano()
	a1, a2 := filepath.Join(dir, fmt.Sprint("a1-", n)), filepath.Join(dir, fmt.Sprint("a2-", n))
	b1, b2 := filepath.Join(dir, fmt.Sprint("b1-", n)), filepath.Join(dir, fmt.Sprint("b2-", n))
	var cmds []*exec.Cmd
	for _, pair := range [][2]string{{a1, a2}, {b1, b2}} {
		c := exec.Command("socat", "pty,raw,echo=0,link="+pair[0], "pty,raw,echo=0,link="+pair[1])
		c.Start()
		cmds = append(cmds, c)
	}
	for _, p := range []string{a1, a2, b1, b2} {
		for i := 0; i < 200; i++ {
			if _, err := os.Stat(p); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	x, _ := os.OpenFile(a2, os.O_RDWR, 0)
	y, _ := os.OpenFile(b1, os.O_RDWR, 0)
	go pace(y, x, rate)
	go pace(x, y, rate)
	return a1, b2, func() {
		x.Close()
		y.Close()
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}
}

// pace copies src to dst no faster than rate bytes per second.
func pace(dst, src *os.File, rate int) {
	buf := make([]byte, 64)
	start := time.Now()
	var sent int64
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		for i := 0; i < n; i++ {
			due := start.Add(time.Duration(sent) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			} else if d < -50*time.Millisecond {
				// The line was idle: a real line does not save up.
				start, sent = time.Now(), 0
			}
			if _, err := dst.Write(buf[i : i+1]); err != nil {
				return
			}
			sent++
		}
	}
}
