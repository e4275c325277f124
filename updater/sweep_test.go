package updater

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A beamupd killed while it verified or received a bundle leaves files in
// staging that no journaled operation owns: the next daemon removes them,
// and keeps the MQTT downloads, which resume.
func TestResumeSweepsStaging(t *testing.T) {
	dir := t.TempDir()
	staging := filepath.Join(dir, "staging")
	os.MkdirAll(staging, 0o755)
	for _, f := range []string{"incoming.partial", "ab12.tar.gz", "cd34.beamupd", "serial.partial", "serial-1.bundle", "ef56.download"} {
		os.WriteFile(filepath.Join(staging, f), []byte("x"), 0o644)
	}
	u := New(Config{StateDir: dir}, downNode{}, nil)
	if _, err := u.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(staging)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{"ef56.download"}) {
		t.Errorf("staging after resume: %v, want only the MQTT download", left)
	}
}

// downNode is a node that has not answered yet: the daemon starts before
// it. Asked anything but whether it booted, it panics (its Node is nil).
type downNode struct{ Node }

func (downNode) Booted(context.Context) (bool, error) { return false, errors.New("the node is down") }
