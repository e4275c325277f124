package beam_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/otptest"
)

func TestClientAgainstRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an OTP node; not in -short")
	}
	tg := otptest.NewTarget(t, "1.0.0")
	c := tg.Client(t)
	ctx := context.Background()

	rels, err := c.WhichReleases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur, ok := beam.Current(rels); !ok || cur.Name != "gauge" || cur.Version != "1.0.0" {
		t.Errorf("current release = %+v, want gauge 1.0.0", rels)
	}
	root, err := c.RootDir(ctx)
	if err != nil || root != tg.Root {
		t.Errorf("root dir = %q, %v; want the target's own %q", root, err, tg.Root)
	}

	// A function that prints must not hang the call: the client answers io.
	if _, err := c.Call(ctx, "io", "format", "hello~n", etf.List{}); err != nil {
		t.Errorf("io:format: %v", err)
	}
	if _, err := c.Call(ctx, "no_such_module", "f"); err == nil {
		t.Error("undefined function: no error")
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := c.Call(short, "timer", "sleep", 5000); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow call: err = %v, want deadline exceeded", err)
	}
	v, err := c.Eval(ctx, "lists:sum([1,2,3]).")
	if err != nil || v != 6 {
		t.Errorf("Eval = %v, %v; want 6", v, err)
	}

	// A call under way when the node dies fails at once with ErrNodeDown.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "timer", "sleep", 20000)
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	tg.Kill(t)
	select {
	case err := <-errc:
		if !errors.Is(err, beam.ErrNodeDown) {
			t.Errorf("call during node death: %v, want ErrNodeDown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("call during node death did not return")
	}

	// The client reconnects once the node is back.
	tg.Start(t)
	if _, err := c.OSPid(ctx); err != nil {
		t.Errorf("after restart: %v", err)
	}
}
