// Package bundletest makes bad bundles for tests.
package bundletest

import (
	"archive/tar"
	"bytes"
	"io"
)

// Rewrite returns a copy of a bundle (any tar file) with one entry's
// content changed by change, and its size fixed to match.
func Rewrite(bundle []byte, entry string, change func([]byte) []byte) []byte {
	tr := tar.NewReader(bytes.NewReader(bundle))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(tr)
		if h.Name == entry {
			data = change(data)
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}
