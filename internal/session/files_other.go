//go:build !unix

package session

import "os"

// inode is unknown here; size and modification time still tell changes.
func inode(os.FileInfo) uint64 { return 0 }
