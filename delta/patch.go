package delta

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A patch is DEFLATE with a preset dictionary (RFC 1951, as zlib's
// deflateSetDictionary): the new file is cut into blocks of BlockSize
// bytes, and each block is compressed on its own against the window of
// the old file at the same relative place, so that what did not change
// costs a few bytes of back-references. Each block is a uvarint length and
// that many bytes of raw DEFLATE. It is the standard library's own
// compressor, which the device binary links anyway: a binary-diff library
// (bsdiff, zstd's --patch-from) would find moved code further away but
// costs the device binary half a megabyte it does not have.
const (
	BlockSize = 16 << 10
	window    = 32 << 10 // DEFLATE's furthest back-reference
	maxBlock  = 2 * BlockSize
)

// dictRange is the part of an old file of oldLen bytes that block i of a
// new file of newLen bytes is compressed against: a window that starts a
// quarter before the block's relative place in the old file.
func dictRange(i, oldLen, newLen int64) (off, n int64) {
	pos := int64(0)
	if newLen > 0 {
		pos = i * BlockSize * oldLen / newLen
	}
	off = min(pos-window/4, oldLen-window)
	off = max(off, 0)
	return off, min(window, oldLen-off)
}

// Diff returns the patch that makes new from old.
func Diff(old, new []byte) []byte {
	var out, block bytes.Buffer
	var lenBuf [binary.MaxVarintLen64]byte
	for i := int64(0); i*BlockSize < int64(len(new)); i++ {
		off, n := dictRange(i, int64(len(old)), int64(len(new)))
		block.Reset()
		w, _ := flate.NewWriterDict(&block, flate.BestCompression, old[off:off+n])
		w.Write(new[i*BlockSize : min((i+1)*BlockSize, int64(len(new)))])
		w.Close()
		out.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(block.Len()))])
		out.Write(block.Bytes())
	}
	return out.Bytes()
}

// compressedSize is what new costs as a whole file in a gzipped payload,
// near enough to choose between it and a patch.
func compressedSize(new []byte) int {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write(new)
	w.Close()
	return b.Len()
}

// errPatch is a patch that does not make a file of the size it claims.
var errPatch = errors.New("malformed patch")

// Apply writes to w the size bytes that patch makes from old, an old
// file of oldLen bytes. It holds one block and one window in memory.
func Apply(w io.Writer, old io.ReaderAt, oldLen int64, patch io.Reader, size int64) error {
	br := bufio.NewReader(patch)
	dict := make([]byte, window)
	comp := make([]byte, maxBlock)
	out := make([]byte, BlockSize)
	var fr io.ReadCloser
	for i := int64(0); i*BlockSize < size; i++ {
		n, err := binary.ReadUvarint(br)
		if err != nil || n > maxBlock {
			return fmt.Errorf("%w: block %d", errPatch, i)
		}
		if _, err := io.ReadFull(br, comp[:n]); err != nil {
			return fmt.Errorf("%w: block %d: %v", errPatch, i, err)
		}
		off, dn := dictRange(i, oldLen, size)
		if _, err := old.ReadAt(dict[:dn], off); err != nil && !(errors.Is(err, io.EOF) && dn == 0) {
			return fmt.Errorf("reading the base: %w", err)
		}
		src := bytes.NewReader(comp[:n])
		if fr == nil {
			fr = flate.NewReaderDict(src, dict[:dn])
		} else if err := fr.(flate.Resetter).Reset(src, dict[:dn]); err != nil {
			return err
		}
		want := min(BlockSize, size-i*BlockSize)
		if _, err := io.ReadFull(fr, out[:want]); err != nil {
			return fmt.Errorf("%w: block %d: %v", errPatch, i, err)
		}
		if k, _ := fr.Read(out[:1]); k != 0 {
			return fmt.Errorf("%w: block %d makes more than %d bytes", errPatch, i, want)
		}
		if _, err := w.Write(out[:want]); err != nil {
			return err
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes after the last block", errPatch)
	}
	return nil
}
