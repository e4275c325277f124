package mqtt

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/report"
)

// Publish uploads a bundle file as retained messages: every chunk first,
// then the offer, then the target, so that a device never sees an offer
// whose chunks are not all there. It returns the bundle id.
//
// target makes the signed target message for the bundle id (SignTarget).
func Publish(ctx context.Context, c paho.Client, t Topics, path, targetTopic string, target func(id string) ([]byte, error), progress func(done, total int64)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h, err := bundle.ReadHeader(f)
	if err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	tr := tar.NewReader(f)
	for i := 0; i < 3; i++ {
		th, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		if i == 2 && th.Name != h.Manifest.Payload.Path {
			return "", fmt.Errorf("reading %s: third entry is %q, not the payload", path, th.Name)
		}
	}
	id := h.ID()
	p := h.Manifest.Payload
	// Up to 16 chunks in flight: enough to fill the link, bounded memory.
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	sem := make(chan struct{}, 16)
	var sent int64
	var mu sync.Mutex
	for n := range p.Chunks {
		buf := make([]byte, chunkLen(p, n))
		if _, err := io.ReadFull(tr, buf); err != nil {
			return "", fmt.Errorf("reading %s: chunk %d: %w", path, n, err)
		}
		select {
		case sem <- struct{}{}:
		case err := <-errs:
			return "", err
		case <-ctx.Done():
			return "", ctx.Err()
		}
		wg.Add(1)
		tok := c.Publish(t.Chunk(id, n), 1, true, buf)
		go func(n int, size int64) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := wait(ctx, tok); err != nil {
				select {
				case errs <- fmt.Errorf("publishing chunk %d: %w", n, err):
				default:
				}
				return
			}
			mu.Lock()
			sent += size
			if progress != nil {
				progress(sent, p.Size)
			}
			mu.Unlock()
		}(n, int64(len(buf)))
	}
	wg.Wait()
	select {
	case err := <-errs:
		return "", err
	default:
	}
	offer, _ := json.Marshal(Offer{Manifest: string(h.Raw), Signature: string(h.Signature)})
	if err := publish(ctx, c, t.Offer(id), true, offer); err != nil {
		return "", err
	}
	msg, err := target(id)
	if err != nil {
		return "", fmt.Errorf("signing the target: %w", err)
	}
	if err := publish(ctx, c, targetTopic, true, msg); err != nil {
		return "", err
	}
	return id, nil
}

// Retract clears a target. With purge it also clears the offer and the
// chunks of the bundle the target named.
func Retract(ctx context.Context, c paho.Client, t Topics, targetTopic string, purge bool) (string, error) {
	f := &Fetcher{Client: c, Topics: t, Timeout: 2 * time.Second}
	var id string
	if data, err := f.retained(ctx, targetTopic); err == nil {
		var m TargetMessage
		var doc TargetDoc
		if json.Unmarshal(data, &m) == nil && json.Unmarshal([]byte(m.Target), &doc) == nil {
			id = doc.Bundle
		}
	}
	if err := publish(ctx, c, targetTopic, true, nil); err != nil {
		return id, err
	}
	if !purge || id == "" {
		return id, nil
	}
	data, err := f.retained(ctx, t.Offer(id))
	if err != nil {
		return id, fmt.Errorf("purging bundle %.12s: %w", id, err)
	}
	var o Offer
	if err := json.Unmarshal(data, &o); err != nil {
		return id, fmt.Errorf("purging bundle %.12s: bad offer: %w", id, err)
	}
	m, err := bundle.ParseManifest([]byte(o.Manifest))
	if err != nil {
		return id, fmt.Errorf("purging bundle %.12s: %w", id, err)
	}
	for n := range m.Payload.Chunks {
		if err := publish(ctx, c, t.Chunk(id, n), true, nil); err != nil {
			return id, err
		}
	}
	return id, publish(ctx, c, t.Offer(id), true, nil)
}

// WatchStatus calls fn with every device status retained or published
// under the prefix (or of one device), until ctx is done. Statuses that
// are not JSON are passed with State "unreadable".
func WatchStatus(ctx context.Context, c paho.Client, t Topics, device string, fn func(report.Status)) error {
	topic := t.Status("+")
	if device != "" {
		topic = t.Status(device)
	}
	ch := make(chan report.Status, 64)
	err := wait(ctx, c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		var s report.Status
		if len(m.Payload()) == 0 {
			return // a cleared status
		}
		if json.Unmarshal(m.Payload(), &s) != nil {
			s.State = "unreadable"
		}
		// The topic names the device even when its last will does not.
		parts := strings.Split(strings.TrimPrefix(m.Topic(), t.Prefix+"/devices/"), "/")
		s.Device = parts[0]
		select {
		case ch <- s:
		case <-ctx.Done():
		}
	}))
	if err != nil {
		return err
	}
	for {
		select {
		case s := <-ch:
			fn(s)
		case <-ctx.Done():
			return nil
		}
	}
}
