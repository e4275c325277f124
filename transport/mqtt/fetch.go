package mqtt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"aead.dev/minisign"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/report"
)

// Fetcher downloads bundles chunk by chunk from retained messages into a
// staging directory, verifying every chunk before it is written. An
// interrupted download resumes: chunks already on disk that verify are not
// fetched again.
type Fetcher struct {
	Client paho.Client
	Topics Topics
	Keys   []minisign.PublicKey
	Dir    string
	// Window is how many chunks are asked for at once (default 16).
	Window int
	// Timeout is how long a requested retained message may take before it
	// is asked for again (default 10s); with no progress for ten times as
	// long, the download fails.
	Timeout time.Duration
	// Reconnected is signalled after the client reconnected: the broker
	// forgot the subscriptions of a clean session.
	Reconnected chan struct{}
	// Direct, when set, is how to reach the broker on a connection of a
	// download's own, which reads each chunk into its place without the
	// client's copies (chunkconn.go). Without it, or when it fails, the
	// chunks come through Client.
	Direct *Options

	early  *early          // the first chunks, asked for with the offer
	wasted map[string]bool // bundles whose early chunks were not used
}

// Stats say where a download's chunks came from.
type Stats struct {
	Total      int // chunks in the payload
	Resumed    int // verified on disk from an earlier attempt
	Fetched    int // received and verified now
	Duplicates int // received for a chunk already verified
	Direct     int // chunks received on a connection of their own
	// Fallback says why chunks came through the client when Direct was
	// set.
	Fallback error
}

func (f *Fetcher) defaults() {
	if f.Window <= 0 {
		f.Window = 16
	}
	if f.Timeout <= 0 {
		f.Timeout = 10 * time.Second
	}
}

// MaxOffer bounds an offer: a manifest at its largest, escaped in JSON,
// and a signature.
const MaxOffer = 2*bundle.MaxManifestSize + 64<<10

// Offer fetches a bundle's offer and verifies its signature; it trusts
// nothing of it before. The first chunks are asked for with it and held
// for Fetch; a caller that does not fetch the payload calls Drop.
func (f *Fetcher) Offer(ctx context.Context, id string) (*bundle.Header, error) {
	f.defaults()
	f.askEarly(id)
	data, err := f.retained(ctx, f.Topics.Offer(id))
	if err != nil {
		f.Drop()
		return nil, err
	}
	h, err := OpenOffer(id, data, f.Keys)
	if err != nil {
		f.Drop()
	}
	return h, err
}

// OpenOffer reads the offer of bundle id and verifies its manifest's
// signature; it trusts nothing of it before.
func OpenOffer(id string, data []byte, keys []minisign.PublicKey) (*bundle.Header, error) {
	if len(data) > MaxOffer {
		return nil, fmt.Errorf("offer of bundle %.12s is %d bytes, more than %d", id, len(data), MaxOffer)
	}
	var o Offer
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("offer of bundle %.12s is not an offer: %w", id, err)
	}
	if got := bundle.ID([]byte(o.Manifest)); got != id {
		return nil, fmt.Errorf("offer of bundle %.12s carries the manifest of bundle %.12s", id, got)
	}
	return bundle.VerifyManifest(keys, []byte(o.Manifest), []byte(o.Signature))
}

// retained waits for the retained message on topic, asking again after
// each Timeout, for three Timeouts at most.
func (f *Fetcher) retained(ctx context.Context, topic string) ([]byte, error) {
	got := make(chan []byte, 1)
	handler := func(_ paho.Client, m paho.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	}
	defer f.Client.Unsubscribe(topic)
	for try := 0; try < 3; try++ {
		if err := wait(ctx, f.Client.Subscribe(topic, 1, handler)); err != nil {
			return nil, fmt.Errorf("subscribing to %s: %w", topic, err)
		}
		select {
		case data := <-got:
			return data, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.Reconnected:
		case <-time.After(f.Timeout):
		}
	}
	return nil, fmt.Errorf("%s: %w", topic, errTimeout)
}

// arrival is a chunk as its handler found it: written, or wrong.
type arrival struct {
	n   int
	len int
	err error // the chunk's size or sha256 is not the manifest's, or writing failed
}

// downloadPath is where the payload of bundle id is assembled; it survives
// restarts, so that a download resumes where it stopped.
func downloadPath(dir, id string) string { return filepath.Join(dir, id+".download") }

// Path is where the payload of bundle id is downloaded.
func (f *Fetcher) Path(id string) string { return downloadPath(f.Dir, id) }

// Fetch downloads the payload of a verified bundle into f.Path, every
// chunk verified before it is written. It calls progress with the bytes
// it has, and verified (when not nil) with the length of the payload's
// prefix that is whole, as it grows: what may be read already.
func (f *Fetcher) Fetch(ctx context.Context, h *bundle.Header, progress func(done, total int64), verified func(n int64)) (st Stats, err error) {
	f.defaults()
	p := h.Manifest.Payload
	path := downloadPath(f.Dir, h.ID())
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return Stats{}, err
	}
	st0, statErr := os.Stat(path)
	resuming := statErr == nil && st0.Size() == p.Size
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Stats{}, fmt.Errorf("staging the download: %w", err)
	}
	defer file.Close()
	defer func() {
		// A download that a bad chunk ended is thrown away: what it holds
		// is never resumed, and it is the size of the whole payload.
		if report.OutcomeOf(err) == report.Rejected {
			os.Remove(path)
		}
	}()
	if err := file.Truncate(p.Size); err != nil {
		return Stats{}, fmt.Errorf("staging the download: %w", err)
	}
	st = Stats{Total: len(p.Chunks)}
	done := make([]bool, st.Total)
	buf := make([]byte, p.ChunkSize)
	var have int64
	for n := range done {
		if !resuming {
			break
		}
		b := buf[:chunkLen(p, n)]
		if _, err := file.ReadAt(b, int64(n)*p.ChunkSize); err == nil && sum(b) == p.Chunks[n] {
			done[n] = true
			st.Resumed++
			have += int64(len(b))
		}
	}
	if progress != nil {
		progress(have, p.Size)
	}
	whole := 0 // chunks 0..whole-1 are in
	grown := func() {
		for whole < st.Total && done[whole] {
			whole++
		}
		if verified != nil {
			verified(min(int64(whole)*p.ChunkSize, p.Size))
		}
	}
	grown()

	// Each chunk is checked and written in its handler's goroutine, one
	// per message (the client does not keep order), so that hashing and
	// writing run beside the next chunks' receipt. Only a chunk that
	// verified is written; two copies of one write the same bytes. open
	// keeps writes and arrivals from outliving Fetch.
	var open sync.RWMutex
	closed := false
	finished := make(chan struct{})
	defer func() {
		close(finished)
		open.Lock()
		closed = true
		open.Unlock()
	}()
	arrivals := make(chan arrival, f.Window)
	arrive := func(a arrival) {
		select {
		case arrivals <- a:
		case <-finished:
		case <-ctx.Done():
		}
	}
	handle := func(n int, data []byte) {
		if n >= st.Total {
			return // an early chunk of a shorter payload
		}
		a := arrival{n: n, len: len(data), err: checkChunk(p, n, data)}
		open.RLock()
		if closed {
			open.RUnlock()
			return
		}
		if a.err == nil {
			if _, err := file.WriteAt(data, int64(n)*p.ChunkSize); err != nil {
				a.err = fmt.Errorf("staging the download: %w", err)
			}
		}
		open.RUnlock()
		arrive(a)
	}
	// wrong says whether size is not chunk n's, and tells the loop so.
	wrong := func(n, size int) bool {
		err := sizeError(p, n, size)
		if err != nil {
			arrive(arrival{n: n, len: size, err: err})
		}
		return err != nil
	}

	// Chunks are asked for on a connection of their own when Direct says
	// how (fetch_direct.go), through Client otherwise and from the moment
	// that connection ends. onClient are the chunk topics Client is
	// subscribed to: the early ones, and those asked for through it.
	topic := func(n int) string { return f.Topics.Chunk(h.ID(), n) }
	onClient := map[int]bool{}
	var direct *chunkConn
	lost := make(chan error, 1)
	if f.Direct != nil {
		if direct, st.Fallback = f.direct(ctx, h, handle, wrong, lost); direct != nil {
			c := direct
			defer func() {
				c.Close()
				st.Direct = int(c.got.Load())
			}()
		}
	}
	pending := map[int]time.Time{}
	ask := func(n int) {
		pending[n] = time.Now()
		if direct != nil && direct.subscribe(topic(n)) == nil {
			return
		}
		onClient[n] = true
		f.Client.Subscribe(topic(n), 1, func(_ paho.Client, m paho.Message) { handle(n, m.Payload()) })
	}
	unask := func(n int) {
		delete(pending, n)
		if onClient[n] {
			delete(onClient, n)
			f.Client.Unsubscribe(topic(n))
		}
		if direct != nil {
			direct.unsubscribe(topic(n))
		}
	}
	if e := f.takeEarly(h.ID()); e != nil {
		for n := range earlyChunks {
			onClient[n] = true
			if n < st.Total && !done[n] {
				pending[n] = time.Now()
			} else {
				unask(n)
			}
		}
		e.handOver(handle)
	}
	next := 0
	lastProgress := time.Now()
	tick := time.NewTicker(f.Timeout / 4)
	defer tick.Stop()
	defer func() {
		for n := range onClient {
			f.Client.Unsubscribe(topic(n))
		}
	}()
	for remaining := st.Total - st.Resumed; remaining > 0; {
		for len(pending) < f.Window && next < st.Total {
			if _, asked := pending[next]; !done[next] && !asked {
				ask(next)
			}
			next++
		}
		select {
		case a := <-arrivals:
			if done[a.n] {
				st.Duplicates++
				continue
			}
			if _, ok := pending[a.n]; !ok {
				continue
			}
			if a.err != nil {
				return st, a.err
			}
			unask(a.n)
			done[a.n] = true
			st.Fetched++
			remaining--
			have += int64(a.len)
			lastProgress = time.Now()
			if a.n == whole {
				grown()
			}
			if progress != nil {
				progress(have, p.Size)
			}
		case <-f.Reconnected:
			for n := range pending {
				ask(n)
			}
		case err := <-lost:
			direct = nil
			st.Fallback = fmt.Errorf("the connection for the chunks ended: %w", err)
			for n := range pending {
				ask(n)
			}
		case now := <-tick.C:
			if progress != nil {
				progress(have, p.Size) // so that a stall shows the latest figure
			}
			if now.Sub(lastProgress) > 10*f.Timeout {
				return st, fmt.Errorf("download of bundle %.12s stalled: no chunk for %s", h.ID(), now.Sub(lastProgress).Round(time.Second))
			}
			for n, at := range pending {
				if now.Sub(at) > f.Timeout {
					ask(n)
				}
			}
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
	// No fsync: a resumed download hashes every chunk again, so a chunk
	// lost in a power cut is fetched again, and the install copies the
	// payload durably into staging before it acts.
	return st, nil
}

// checkChunk says why data is not chunk n of p.
func checkChunk(p bundle.Payload, n int, data []byte) error {
	if err := sizeError(p, n, len(data)); err != nil {
		return err // a chunk of the wrong size is not worth hashing
	}
	if got := sum(data); got != p.Chunks[n] {
		return &report.Error{Outcome: report.Rejected,
			Err: fmt.Errorf("chunk %d has sha256 %s, manifest says %s", n, got, p.Chunks[n])}
	}
	return nil
}

func sizeError(p bundle.Payload, n, size int) error {
	if want := chunkLen(p, n); int64(size) != want {
		return &report.Error{Outcome: report.Rejected,
			Err: fmt.Errorf("chunk %d is %d bytes, manifest says %d", n, size, want)}
	}
	return nil
}

func chunkLen(p bundle.Payload, n int) int64 {
	if rest := p.Size - int64(n)*p.ChunkSize; rest < p.ChunkSize {
		return rest
	}
	return p.ChunkSize
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
