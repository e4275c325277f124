package delta

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// Seen records what the base's files hashed to when a rebuild last read
// them, each under what stat said of it then (size, modification and
// change times, inode), as git's index does. A rebuild checks a file it
// keeps where it is against the record instead of reading it again: such
// files are most of a delta, and on a board without SHA-256 instructions
// hashing them is most of its time after the last byte. A file written
// since has another change time, which no program sets back; one changed
// too close to its reading to tell is not recorded (see note).
//
// The zero Seen, and a nil one, record nothing.
type Seen struct {
	mu   sync.Mutex
	was  map[string]seenFile // as the last rebuild left them
	now  map[string]seenFile // what this rebuild confirmed
	hits int                 // base files checked by the record
}

type seenFile struct {
	Stat   fileStat `json:"stat"`
	SHA256 string   `json:"sha256"`
}

// fileStat is what stat says of a file that changes when it is written.
type fileStat struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
	CTime int64  `json:"ctime_ns"`
	Ino   uint64 `json:"ino"`
	Dev   uint64 `json:"dev"`
}

// ReadSeen reads a record that Marshal wrote. A record it cannot read is
// an empty one: the files are hashed again, which is never wrong.
func ReadSeen(data []byte) *Seen {
	s := &Seen{}
	if json.Unmarshal(data, &s.was) != nil {
		s.was = nil
	}
	return s
}

// Marshal gives the record of the files this rebuild confirmed, by
// record or by reading them; the others are dropped.
func (s *Seen) Marshal() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.now)
}

// Hits is how many of the base's files a rebuild checked by the record,
// without reading them.
func (s *Seen) Hits() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// Len is how many files the rebuild confirmed.
func (s *Seen) Len() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.now)
}

// Learn records the hashes of the regular files under dirs of root,
// reading only those the record does not hold as they are, so that the
// first delta on this base need not read them either. Files in dirs the
// record held and that are gone, or were never under dirs, are dropped.
// It returns how many files it read.
func (s *Seen) Learn(ctx context.Context, root *os.Root, dirs ...string) (read int, err error) {
	buf := make([]byte, 256<<10)
	for _, dir := range dirs {
		err := fs.WalkDir(root.FS(), dir, func(name string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			// Stat before reading, as checkOne does.
			fi, err := d.Info()
			if err != nil || s.known(name, fi) {
				return err
			}
			read++
			return s.learnFile(root, name, fi, buf)
		})
		if err != nil {
			return read, fmt.Errorf("recording the hashes of %s: %w", dir, err)
		}
	}
	return read, nil
}

func (s *Seen) learnFile(root *os.Root, name string, fi fs.FileInfo, buf []byte) error {
	at := time.Now()
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := sha256Of(f, buf)
	if err != nil {
		return err
	}
	s.note(name, fi, sum, at)
	return nil
}

// known reports whether the record holds the file at path as fi says it
// is, whatever its hash; the entry is kept.
func (s *Seen) known(path string, fi fs.FileInfo) bool {
	return s.take(path, fi, func(seenFile) bool { return true })
}

// matches reports whether the record holds the base file at path, as fi
// says it is, with hash sum; the entry is kept.
func (s *Seen) matches(path string, fi fs.FileInfo, sum string) bool {
	if !s.take(path, fi, func(f seenFile) bool { return f.SHA256 == sum }) {
		return false
	}
	s.mu.Lock()
	s.hits++
	s.mu.Unlock()
	return true
}

// take keeps the record's entry for the file at path when its stat is
// what fi says and ok accepts it.
func (s *Seen) take(path string, fi fs.FileInfo, ok func(seenFile) bool) bool {
	if s == nil {
		return false
	}
	st, isFile := statOf(fi)
	if !isFile {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, found := s.was[path]
	if !found || f.Stat != st || !ok(f) {
		return false
	}
	s.put(path, f)
	return true
}

// racy is how long before its reading a file's last change must be for
// the record to trust its stat: the kernel stamps changes with a clock
// that ticks every few milliseconds, and a file written again within the
// tick it was read in would keep its times.
const racy = time.Second

// note records that the base file at path, as fi said it was before it
// was read at the time at, hashed to sum.
func (s *Seen) note(path string, fi fs.FileInfo, sum string, at time.Time) {
	if s == nil {
		return
	}
	st, ok := statOf(fi)
	if !ok || time.Unix(0, st.CTime).After(at.Add(-racy)) || time.Unix(0, st.MTime).After(at.Add(-racy)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(path, seenFile{st, sum})
}

func (s *Seen) put(path string, f seenFile) {
	if s.now == nil {
		s.now = map[string]seenFile{}
	}
	s.now[path] = f
}
