package delta

import (
	"io/fs"
	"syscall"
)

// statOf gives what stat said of fi, when it is a regular file.
func statOf(fi fs.FileInfo) (fileStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return fileStat{}, false
	}
	return fileStat{Size: st.Size, MTime: st.Mtim.Nano(), CTime: st.Ctim.Nano(),
		Ino: uint64(st.Ino), Dev: uint64(st.Dev)}, true
}
