package mqtt

import (
	"bufio"
	"bytes"
	"net"
	"testing"
)

// discard is a connection whose writes go nowhere: serve acknowledges.
type discard struct{ net.Conn }

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// Whatever a broker sends on the connection for chunks, serve neither
// panics nor hands over more than the buffer it was given, and only for
// a size it agreed to.
func FuzzChunkConnServe(f *testing.F) {
	chunk := []byte("hello")
	f.Add(append([]byte{0x30, 10, 0, 3, 'a', '/', '1'}, chunk...))       // QoS 0
	f.Add(append([]byte{0x32, 12, 0, 3, 'a', '/', '1', 0, 7}, chunk...)) // QoS 1
	f.Add([]byte{0x90, 3, 0, 1, 0})                                      // SUBACK
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x30, 2, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &chunkConn{conn: discard{}, r: bufio.NewReader(bytes.NewReader(data))}
		buf := make([]byte, 64)
		c.serve(func(topic string, size int) []byte {
			if size < 0 {
				t.Fatalf("asked for a buffer of %d bytes", size)
			}
			if size > len(buf) {
				return nil
			}
			return buf
		}, func(got []byte) {
			if len(got) > len(buf) {
				t.Fatalf("handed over %d bytes", len(got))
			}
		})
	})
}
