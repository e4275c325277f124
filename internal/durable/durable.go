// Package durable writes files so that a crash or a power cut leaves
// either the old or the new content, never a torn or missing file.
package durable

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// WriteFile replaces path with data durably: write a temporary file
// beside it, fsync it, check Close, rename it over path, fsync the
// directory. After a crash path holds either the old or the new bytes.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// CopyFile copies src to dst with the same guarantees.
func CopyFile(dst, src string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeAtomic(dst, perm, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func writeAtomic(path string, perm os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempMark+"*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return SyncDir(dir)
}

// tempMark is in the name of every file these functions write under a
// temporary name: ".NAME" + tempMark + a suffix, beside NAME.
const tempMark = ".durable-tmp"

// RemoveTemps removes from dir what a write cut short by a crash or a
// power cut left under a temporary name, and returns their names. Call
// it only while no write into dir is under way.
func RemoveTemps(dir string) []string {
	found, _ := filepath.Glob(filepath.Join(dir, ".*"+tempMark+"*"))
	var gone []string
	for _, f := range found {
		if os.Remove(f) == nil {
			gone = append(gone, filepath.Base(f))
		}
	}
	return gone
}

// SyncDir makes a rename or removal in dir durable.
func SyncDir(dir string) error { return SyncFile(dir) }

// SyncFile flushes a file (or a directory) that was written without
// WriteFile to the disk.
func SyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return nil
}

// Free is the bytes an unprivileged writer may still put on the
// filesystem that holds path.
func Free(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
