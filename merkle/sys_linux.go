package merkle

import (
	"os"

	"golang.org/x/sys/unix"
)

func fdatasync(f *os.File) error {
	return unix.Fdatasync(int(f.Fd()))
}

func syncfs(f *os.File) error {
	return unix.Syncfs(int(f.Fd()))
}
