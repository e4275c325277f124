package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/brokertest"
)

// asking is a client that counts the subscriptions asked of the broker,
// each of which makes it send the topic's retained message again.
type asking struct {
	paho.Client
	mu   sync.Mutex
	asks map[string]int
}

func (a *asking) Subscribe(topic string, qos byte, h paho.MessageHandler) paho.Token {
	a.mu.Lock()
	a.asks[topic]++
	a.mu.Unlock()
	return a.Client.Subscribe(topic, qos, h)
}

func (a *asking) count(topic string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asks[topic]
}

// published puts a bundle of payload, in chunks of chunk bytes, on a new
// broker, and returns a device's fetcher for it.
func published(t *testing.T, payload []byte, chunk int64) (*Fetcher, *asking, string) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pp := filepath.Join(dir, "payload")
	if err := os.WriteFile(pp, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Format: 1, Kind: bundle.KindRelease, Name: "app", Version: "1.0.0", Created: time.Now().UTC()}
	if m.Payload, err = bundle.HashPayload(pp, chunk); err != nil {
		t.Fatal(err)
	}
	m.Payload.Path = "app-1.0.0.tar.gz"
	raw, _ := json.Marshal(m)
	var b bytes.Buffer
	if err := bundle.Write(&b, raw, bundle.SignManifest(priv, raw, "app 1.0.0"), pp, m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app.bundle")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	url := brokertest.Start(t, nil).URL("mqtt")
	ctx := context.Background()
	host, err := Connect(ctx, Options{Broker: url, ClientID: "host"})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Disconnect(100)
	topics := Topics{Prefix: "beamup"}
	id, err := Publish(ctx, host, topics, path, topics.GroupTarget("all"), func(string) ([]byte, error) { return []byte("t"), nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Connect(ctx, Options{Broker: url, ClientID: "device"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	a := &asking{Client: c, asks: map[string]int{}}
	return &Fetcher{Client: a, Topics: topics, Keys: []minisign.PublicKey{pub}, Dir: filepath.Join(dir, "staging"), Timeout: 2 * time.Second,
		Direct: &Options{Broker: url, ClientID: "device"}}, a, id
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// The first chunks are asked for with the offer and used by Fetch: every
// chunk is asked for once, and the download is the payload, whether the
// rest come on a connection of their own or through the client.
func TestFetchUsesTheChunksAskedWithTheOffer(t *testing.T) {
	for _, c := range []struct {
		chunks int
		direct bool
	}{{1, true}, {5, true}, {5, false}} {
		chunks := c.chunks
		payload := randomBytes(t, chunks*4096-100)
		f, a, id := published(t, payload, 4096)
		if !c.direct {
			f.Direct = nil
		}
		ctx := context.Background()
		h, err := f.Offer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for n := range min(chunks, earlyChunks) {
			if got := a.count(f.Topics.Chunk(id, n)); got != 1 {
				t.Errorf("%d chunks: chunk %d asked for %d times with the offer, want once", chunks, n, got)
			}
		}
		time.Sleep(200 * time.Millisecond) // the early chunks are in before Fetch
		st, err := f.Fetch(ctx, h, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Fallback != nil {
			t.Errorf("%d chunks: %v", chunks, st.Fallback)
		}
		if want := max(chunks-earlyChunks, 0); c.direct && st.Direct != want {
			t.Errorf("%d chunks: %d on a connection of their own, want %d", chunks, st.Direct, want)
		}
		if st.Fetched != chunks || st.Duplicates != 0 {
			t.Errorf("%d chunks: fetched %d, received twice %d; want %d and 0", chunks, st.Fetched, st.Duplicates, chunks)
		}
		for n := range min(chunks, earlyChunks) {
			if got := a.count(f.Topics.Chunk(id, n)); got != 1 {
				t.Errorf("%d chunks: chunk %d asked for %d times, want once", chunks, n, got)
			}
		}
		want := 1 // through the client
		if c.direct {
			want = 0
		}
		for n := earlyChunks; n < chunks; n++ {
			if got := a.count(f.Topics.Chunk(id, n)); got != want {
				t.Errorf("%d chunks, direct %v: chunk %d asked for %d times through the client, want %d", chunks, c.direct, n, got, want)
			}
		}
		if got, _ := os.ReadFile(f.Path(id)); !bytes.Equal(got, payload) {
			t.Errorf("%d chunks: the download is not the payload (%d bytes of %d)", chunks, len(got), len(payload))
		}
	}
}

// A device that did not fetch a bundle after its offer (no room, for now)
// does not spend its link on the same early chunks when it asks again.
func TestDroppedEarlyChunksAreNotAskedAgain(t *testing.T) {
	payload := randomBytes(t, 3*4096)
	f, a, id := published(t, payload, 4096)
	ctx := context.Background()
	if _, err := f.Offer(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.Drop()
	h, err := f.Offer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	first := f.Topics.Chunk(id, 0)
	if got := a.count(first); got != 1 {
		t.Errorf("chunk 0 asked for %d times by two offers, want once", got)
	}
	if _, err := f.Fetch(ctx, h, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.Path(id)); !bytes.Equal(got, payload) {
		t.Errorf("the download is not the payload")
	}
}

// When the connection of the download's own cannot be made, the chunks
// come through the client, and the download says why.
func TestFetchFallsBackToTheClient(t *testing.T) {
	payload := randomBytes(t, 5*4096)
	f, _, id := published(t, payload, 4096)
	f.Direct = &Options{Broker: "mqtt://127.0.0.1:1", ClientID: "device"}
	ctx := context.Background()
	h, err := f.Offer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Fetch(ctx, h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fallback == nil {
		t.Error("no reason for the fallback")
	}
	if got, _ := os.ReadFile(f.Path(id)); !bytes.Equal(got, payload) {
		t.Errorf("the download is not the payload")
	}
}
