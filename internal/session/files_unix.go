//go:build unix

package session

import (
	"os"
	"syscall"
)

// inode is the file's inode number, part of what tells a rewritten
// session file from the one read before.
func inode(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
