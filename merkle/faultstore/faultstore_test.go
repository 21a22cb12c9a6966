package faultstore_test

import (
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/faultstore"
	"github.com/crossledger/crossledger/merkle/storagetest"
)

// TestStorage: with no fault armed, a Store is the storage it wraps.
// merkle's TestFaults runs the log against every armed fault.
func TestStorage(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, dir string) merkle.Storage {
		return faultstore.New(merkle.NewDirStorage(dir))
	})
}
