package serial

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
)

func TestCRC16(t *testing.T) {
	if got := crc16([]byte("123456789")); got != 0x31c3 {
		t.Errorf("crc16 = %04x, want 31c3 (CRC-16/XMODEM check value)", got)
	}
}

// ptyPair starts socat with two linked pseudo-terminals and returns their
// paths; socat stops when the test ends.
func ptyPair(t *testing.T) (string, string) {
	t.Helper()
	otptest.Require(t, "socat")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	cmd := exec.Command("socat", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(b); err == nil {
			if _, err := os.Stat(a); err == nil {
				return a, b
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("socat made no pseudo-terminals")
	return "", ""
}

func open(t *testing.T, dev string) *SerialPort {
	t.Helper()
	p, err := Open(dev, 115200)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func randomFile(t *testing.T, size int) (string, []byte) {
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "payload.bin")
	os.WriteFile(p, data, 0o644)
	return p, data
}

// The real sz --ymodem of lrzsz sends; Receive gets the same bytes.
func TestReceiveFromSz(t *testing.T) {
	if testing.Short() {
		t.Skip("runs socat and sz; not in -short")
	}
	otptest.Require(t, "sz")
	a, b := ptyPair(t)
	// 300001 bytes: 1 KiB blocks and a short tail.
	path, data := randomFile(t, 300001)
	tty, err := os.OpenFile(b, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	sz := exec.Command("sz", "--ymodem", "-k", path)
	sz.Stdin, sz.Stdout = tty, tty
	var szErr bytes.Buffer
	sz.Stderr = &szErr
	if err := sz.Start(); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	f, err := Receive(context.Background(), open(t, a), &got, Options{StartTimeout: 10 * time.Second})
	if err != nil {
		sz.Process.Kill()
		sz.Wait() // before reading what it wrote
		t.Fatalf("Receive: %v\nsz: %s", err, szErr.String())
	}
	if err := sz.Wait(); err != nil {
		t.Errorf("sz: %v\n%s", err, szErr.String())
	}
	if f.Name != "payload.bin" || f.Size != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Errorf("received %q, %d bytes (announced %d), equal %v", f.Name, got.Len(), f.Size, bytes.Equal(got.Bytes(), data))
	}
}

// Send is received by the real rz --ymodem byte for byte.
func TestSendToRz(t *testing.T) {
	if testing.Short() {
		t.Skip("runs socat and rz; not in -short")
	}
	otptest.Require(t, "rz")
	a, b := ptyPair(t)
	_, data := randomFile(t, 200100)
	dir := t.TempDir()
	tty, err := os.OpenFile(b, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	rz := exec.Command("rz", "--ymodem", "-y")
	rz.Dir, rz.Stdin, rz.Stdout = dir, tty, tty
	var rzErr bytes.Buffer
	rz.Stderr = &rzErr
	if err := rz.Start(); err != nil {
		t.Fatal(err)
	}
	err = Send(context.Background(), open(t, a), File{Name: "bundle.bin", Size: int64(len(data))}, bytes.NewReader(data), Options{StartTimeout: 10 * time.Second})
	if err != nil {
		rz.Process.Kill()
		rz.Wait() // before reading what it wrote
		t.Fatalf("Send: %v\nrz: %s", err, rzErr.String())
	}
	if err := rz.Wait(); err != nil {
		t.Errorf("rz: %v\n%s", err, rzErr.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "bundle.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("rz wrote %d bytes (%v), want the %d sent", len(got), err, len(data))
	}
}

// relay copies bytes between two pseudo-terminals, corrupting one byte in
// corruptEvery and dropping one in dropEvery (0: never), in both
// directions, until the test ends.
func relay(t *testing.T, x, y string, corruptEvery, dropEvery int) {
	t.Helper()
	fx, err := os.OpenFile(x, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fy, err := os.OpenFile(y, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fx.Close(); fy.Close() })
	pump := func(dst, src *os.File, seed int) {
		buf := make([]byte, 4096)
		n := seed
		for {
			k, err := src.Read(buf)
			if err != nil {
				return
			}
			out := buf[:0]
			for _, b := range buf[:k] {
				n++
				if dropEvery > 0 && n%dropEvery == 0 {
					continue
				}
				if corruptEvery > 0 && n%corruptEvery == 0 {
					b ^= 0x5a
				}
				out = append(out, b)
			}
			if _, err := dst.Write(out); err != nil {
				return
			}
		}
	}
	go pump(fy, fx, 0)
	go pump(fx, fy, 7)
}

// On a line that corrupts and drops bytes the transfer recovers by
// retries, and what arrives is exactly what was sent.
func TestNoisyLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs socat; not in -short")
	}
	sendDev, relayA := ptyPair(t)
	relayB, recvDev := ptyPair(t)
	relay(t, relayA, relayB, 5003, 7919)
	_, data := randomFile(t, 40*1024+77)
	o := Options{BlockTimeout: 2 * time.Second, StartTimeout: 10 * time.Second, MaxErrors: 20}
	errc := make(chan error, 1)
	go func() {
		errc <- Send(context.Background(), open(t, sendDev), File{Name: "b", Size: int64(len(data))}, bytes.NewReader(data), o)
	}()
	var got bytes.Buffer
	_, err := Receive(context.Background(), open(t, recvDev), &got, o)
	if err != nil {
		t.Fatalf("Receive: %v (sender: %v)", err, <-errc)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("received %d bytes that differ from the %d sent", got.Len(), len(data))
	}
	if err := <-errc; err != nil {
		t.Errorf("Send: %v", err)
	}
}

// A sender that goes away mid-transfer (the cable pulled) ends the
// receive with an error.
func TestCablePulled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs socat; not in -short")
	}
	a, b := ptyPair(t)
	_, data := randomFile(t, 200*1024)
	sendPort := open(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		Send(ctx, sendPort, File{Name: "b", Size: int64(len(data))}, bytes.NewReader(data), Options{Progress: func(done, _ int64) {
			if done > 50*1024 {
				cancel() // the sender stops talking, as a pulled cable would
			}
		}})
	}()
	var got bytes.Buffer
	_, err := Receive(context.Background(), open(t, a), &got, Options{BlockTimeout: 2 * time.Second, MaxErrors: 3})
	if err == nil {
		t.Fatal("Receive succeeded with the sender gone")
	}
}
