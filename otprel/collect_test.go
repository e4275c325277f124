package otprel_test

import (
	"archive/tar"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// What a release tarball says of its release does not depend on which
// members the sink takes: a layout that keeps most files where they are
// reads the same release as a read of the whole, for the releases each
// tool builds.
func TestReadTarballToTakesFew(t *testing.T) {
	if testing.Short() {
		t.Skip("builds releases with systools, rebar3 and mix")
	}
	for _, f := range []*otptest.Flavor{otptest.Gauge, otptest.Rebar3, otptest.Mix} {
		t.Run(f.Tool, func(t *testing.T) {
			tarball := f.Tarball(t, "1.1.0")
			whole := read(t, tarball, nil)
			taken := map[string]bool{}
			few := read(t, tarball, func(h *tar.Header, name string) (io.Writer, error) {
				if !strings.HasPrefix(name, "releases/1.1.0/") {
					return nil, nil
				}
				if h.Typeflag == tar.TypeReg {
					taken[name] = true
				}
				return io.Discard, nil
			})
			if len(taken) == 0 || len(whole.Sums) <= len(taken) {
				t.Fatalf("the sink took %d of %d files", len(taken), len(whole.Sums))
			}
			for name, s := range few.Sums {
				if !taken[name] || whole.Sums[name] != s {
					t.Errorf("%s: %+v in the sums of the few, %+v in the whole", name, s, whole.Sums[name])
				}
			}
			if len(few.Sums) != len(taken) {
				t.Errorf("%d sums for %d files taken", len(few.Sums), len(taken))
			}
			few.Sums, whole.Sums = nil, nil
			if !reflect.DeepEqual(few, whole) {
				t.Errorf("read taking few members:\n%+v\nread whole:\n%+v", few, whole)
			}
			if len(whole.Modules) == 0 || len(whole.Apps) == 0 || len(whole.Config) == 0 {
				t.Errorf("the release read has %d modules, %d applications, %d configuration files",
					len(whole.Modules), len(whole.Apps), len(whole.Config))
			}
		})
	}
}

func read(t *testing.T, tarball string, sink otprel.Sink) *otprel.ReleaseFiles {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files, err := otprel.ReadTarballTo(f, sink)
	if err != nil {
		t.Fatal(err)
	}
	return files
}
