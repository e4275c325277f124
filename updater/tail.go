package updater

import (
	"hash"
	"io"
	"os"
	"sync"
)

// tail reads a file while it is written, no further than what has
// verified: the layout of a release follows its verification chunk by
// chunk and never reads a byte that has not matched its signed hash.
type tail struct {
	f   *os.File
	pos int64
	sum hash.Hash // when set, every byte read is hashed
	// idle, when set, is called when the reader has caught up and is
	// about to wait for more: the layout syncs what it wrote so far, so
	// that little is left to sync after the last byte.
	idle func()

	mu   sync.Mutex
	more *sync.Cond
	end  int64 // bytes verified
	done bool
	err  error
}

func newTail(f *os.File) *tail {
	t := &tail{f: f}
	t.more = sync.NewCond(&t.mu)
	return t
}

// verified says that the first n bytes of the file have verified.
func (t *tail) verified(n int64) {
	t.mu.Lock()
	t.end = n
	t.mu.Unlock()
	t.more.Broadcast()
}

// stop ends the file: at its end (err nil), or with err for the reader.
func (t *tail) stop(err error) {
	t.mu.Lock()
	t.done, t.err = true, err
	t.mu.Unlock()
	t.more.Broadcast()
}

// stopped says whether stop was called.
func (t *tail) stopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}

func (t *tail) Read(p []byte) (int, error) {
	t.mu.Lock()
	if t.pos >= t.end && !t.done && t.idle != nil {
		t.mu.Unlock()
		t.idle()
		t.mu.Lock()
	}
	for t.pos >= t.end && !t.done {
		t.more.Wait()
	}
	end, err := t.end, t.err
	t.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if t.pos >= end {
		return 0, io.EOF
	}
	n, err := t.f.ReadAt(p[:min(int64(len(p)), end-t.pos)], t.pos)
	t.pos += int64(n)
	if t.sum != nil {
		t.sum.Write(p[:n])
	}
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}
