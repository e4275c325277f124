// Command mqttfetch is make bench's device side for MQTT: N simulated
// devices in one process, each with its own connection and staging
// directory, fetch and verify one bundle through transport/mqtt's Fetcher
// (offer, signature, every chunk). It prints the seconds until the last
// one has verified the whole payload. A device whose connection for the
// chunks failed fetches them through its main one, as beamupd does; how
// many did is said on stderr ("N of M devices fell back: why").
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/transport/mqtt"
)

func main() {
	broker := flag.String("broker", "mqtt://127.0.0.1:1883", "broker")
	id := flag.String("bundle", "", "bundle id")
	pub := flag.String("pub", "", "public key")
	devices := flag.Int("devices", 1, "simulated devices")
	window := flag.Int("window", 0, "chunks asked for at once (0: the Fetcher default)")
	direct := flag.Bool("direct", true, "chunks on a connection of their own, as beamupd fetches them")
	dir := flag.String("dir", os.TempDir(), "staging root")
	flag.Parse()
	keys, err := bundle.LoadPublicKeys([]string{*pub})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, *devices)
	var fellBack atomic.Int64
	var why atomic.Value
	for i := 0; i < *devices; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			o := mqtt.Options{Broker: *broker, ClientID: fmt.Sprintf("sim-%d-%d", os.Getpid(), i)}
			c, err := mqtt.Connect(ctx, o)
			if err != nil {
				errs <- err
				return
			}
			defer c.Disconnect(100)
			staging := filepath.Join(*dir, fmt.Sprint(i))
			// As beamupd does: the chunks on a connection of their own.
			f := &mqtt.Fetcher{Client: c, Topics: mqtt.Topics{Prefix: "beamup"}, Keys: keys, Dir: staging, Window: *window}
			if *direct {
				f.Direct = &o
			}
			h, err := f.Offer(ctx, *id)
			if err != nil {
				errs <- err
				return
			}
			st, err := f.Fetch(ctx, h, nil, nil)
			if err == nil && st.Fallback != nil {
				fellBack.Add(1)
				why.CompareAndSwap(nil, st.Fallback.Error())
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fail(err)
	}
	took := time.Since(start)
	if n := fellBack.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "mqttfetch: %d of %d devices fell back: %s\n", n, *devices, why.Load())
	}
	// Removing the downloads is not part of the figure: mosquitto_sub
	// writes nothing.
	for i := 0; i < *devices; i++ {
		os.RemoveAll(filepath.Join(*dir, fmt.Sprint(i)))
	}
	fmt.Printf("%.3f\n", took.Seconds())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mqttfetch:", err)
	os.Exit(1)
}
