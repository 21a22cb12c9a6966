package merkle_test

import (
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/storagetest"
)

func TestDirStorage(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, dir string) merkle.Storage {
		return merkle.NewDirStorage(dir)
	})
}
