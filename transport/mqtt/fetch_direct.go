package mqtt

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/beamup/beamup/bundle"
)

// direct opens a connection of the download's own for the chunks of h
// (chunkConn) and serves it: each chunk is read into a buffer of a pool,
// at most window of them in hand, and given to handle in a goroutine of
// its own, so that hashing and writing run beside the next chunk's
// receipt. A chunk of the wrong size is not read: wrong tells of it.
// When the connection ends, lost has why.
func (f *Fetcher) direct(ctx context.Context, h *bundle.Header, handle func(n int, data []byte), wrong func(n, size int) bool, lost chan<- error) (*chunkConn, error) {
	c, err := dialChunks(ctx, *f.Direct)
	if err != nil {
		return nil, fmt.Errorf("connecting for the chunks: %w", err)
	}
	p := h.Manifest.Payload
	prefix := strings.TrimSuffix(f.Topics.Chunk(h.ID(), 0), "0")
	slots := make(chan struct{}, f.Window)
	n := -1 // the chunk being read
	buffer := func(topic string, size int) []byte {
		var err error
		n, err = strconv.Atoi(strings.TrimPrefix(topic, prefix))
		if err != nil || !strings.HasPrefix(topic, prefix) || n < 0 || n >= len(p.Chunks) {
			return nil // not a chunk of this payload
		}
		if wrong(n, size) {
			return nil
		}
		slots <- struct{}{}
		return chunkBuffer(size)
	}
	got := func(data []byte) {
		go func(n int) {
			handle(n, data)
			chunkBuffers.Put(&data)
			<-slots
		}(n)
	}
	go func() {
		err := c.serve(buffer, got)
		select {
		case lost <- err:
		default:
		}
	}()
	return c, nil
}

// chunkBuffers hold chunks between the socket and their handler, shared
// by every download (the fleet simulator runs hundreds at once).
var chunkBuffers sync.Pool

func chunkBuffer(size int) []byte {
	if b, ok := chunkBuffers.Get().(*[]byte); ok && cap(*b) >= size {
		return (*b)[:size]
	}
	return make([]byte, size)
}
