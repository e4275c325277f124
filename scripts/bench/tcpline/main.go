// Command tcpline is make bench's slow network link: it listens on a free
// port on 127.0.0.1, prints it, and relays each connection to -to,
// carrying what comes back from there no faster than -rate bytes per
// second (a device on a cellular link to its broker). It runs until
// stdin closes.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	to := flag.String("to", "127.0.0.1:1883", "address to relay to")
	rate := flag.Int("rate", 1<<20, "bytes per second from -to")
	flag.Parse()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpline:", err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go relay(c, *to, *rate)
		}
	}()
	io.Copy(io.Discard, os.Stdin)
}

func relay(c net.Conn, to string, rate int) {
	defer c.Close()
	u, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer u.Close()
	go func() {
		io.Copy(u, c)
		u.Close()
	}()
	pace(c, u, rate)
}

// pace copies src to dst no faster than rate bytes per second, in blocks
// of 4 KiB; a link that was idle does not save up.
func pace(dst io.Writer, src io.Reader, rate int) {
	buf := make([]byte, 4096)
	start := time.Now()
	var sent int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			due := start.Add(time.Duration(sent+int64(n)) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			} else if d < -50*time.Millisecond {
				start, sent = time.Now(), 0
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
			sent += int64(n)
		}
		if err != nil {
			return
		}
	}
}
