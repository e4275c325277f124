package mqtt

import (
	"os"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// earlyChunks is how many of a bundle's first chunks are asked for with
// its offer, so that they come while the signature is checked instead of
// one round trip after it. Two keep the link busy for that round trip
// unless a chunk crosses it faster than half of one; more would be
// bytes thrown away when the device refuses the bundle.
const earlyChunks = 2

// early holds the first chunks of one bundle from before its manifest is
// known. Nothing of them is trusted or written: Fetch checks each against
// the signed manifest as it does every chunk.
type early struct {
	id string
	mu sync.Mutex
	// got holds the first message of each chunk until Fetch takes over;
	// then deliver, Fetch's, has every message.
	got     map[int][]byte
	deliver func(n int, data []byte)
}

func (e *early) handler(n int) paho.MessageHandler {
	return func(_ paho.Client, m paho.Message) {
		e.mu.Lock()
		deliver := e.deliver
		if deliver == nil {
			if _, ok := e.got[n]; !ok {
				e.got[n] = m.Payload()
			}
		}
		e.mu.Unlock()
		if deliver != nil {
			deliver(n, m.Payload())
		}
	}
}

// handOver gives deliver what came and all that comes.
func (e *early) handOver(deliver func(n int, data []byte)) {
	e.mu.Lock()
	got := e.got
	e.got, e.deliver = nil, deliver
	e.mu.Unlock()
	for n, data := range got {
		go deliver(n, data)
	}
}

// askEarly asks for the first chunks of bundle id, unless a download of
// it is there to resume or its early chunks were thrown away before: a
// device that refused a bundle for now (no room) asks for its offer again
// later, and must not spend its link on the same chunks each time.
func (f *Fetcher) askEarly(id string) {
	f.Drop()
	if _, err := os.Stat(downloadPath(f.Dir, id)); err == nil || f.wasted[id] {
		return
	}
	f.early = &early{id: id, got: map[int][]byte{}}
	for n := range earlyChunks {
		f.Client.Subscribe(f.Topics.Chunk(id, n), 1, f.early.handler(n))
	}
}

// takeEarly hands the early chunks of bundle id over to the caller, who
// unsubscribes from them.
func (f *Fetcher) takeEarly(id string) *early {
	e := f.early
	if e == nil || e.id != id {
		return nil
	}
	f.early = nil
	return e
}

// Drop forgets the early chunks of a bundle whose payload is not fetched
// after its offer, and unsubscribes from them. After Fetch, it does
// nothing.
func (f *Fetcher) Drop() {
	e := f.early
	if e == nil {
		return
	}
	f.early = nil
	for n := range earlyChunks {
		f.Client.Unsubscribe(f.Topics.Chunk(e.id, n))
	}
	if f.wasted == nil {
		f.wasted = map[string]bool{}
	}
	f.wasted[e.id] = true
}
