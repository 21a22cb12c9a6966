package merkle_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "example.com/crossledger/test"

// seedReader is a deterministic byte stream (SHA-256 counter mode), so the
// test key, and with it every golden checkpoint, is reproducible.
type seedReader struct {
	seed string
	n    uint64
	buf  []byte
}

func (r *seedReader) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(r.seed), r.n))
			r.n++
			r.buf = h[:]
		}
		p[i] = r.buf[0]
		r.buf = r.buf[1:]
	}
	return len(p), nil
}

func testKey(t testing.TB) (skey string, v note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(&seedReader{seed: "crossledger merkle test key"}, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	v, err = note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return skey, v
}

func openLog(t testing.TB, dir string, opts merkle.Options) *merkle.Log {
	t.Helper()
	if opts.SignerKey == "" {
		opts.SignerKey, _ = testKey(t)
	}
	l, err := merkle.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

// entry returns the deterministic i-th test entry, of varying length.
func entry(i uint64) []byte {
	n := 1 + int(i*7919%200)
	return []byte(fmt.Sprintf("entry %d %x", i, make([]byte, n)))
}

func entries(from, n uint64) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = entry(from + uint64(i))
	}
	return out
}

// appendN grows l to size with batches of at most batch entries.
func appendN(t testing.TB, l *merkle.Log, size uint64, batch int) {
	t.Helper()
	for l.Size() < size {
		n := min(uint64(batch), size-l.Size())
		first, err := l.Append(context.Background(), entries(l.Size(), n), []byte(fmt.Sprintf("state %d", l.Size()+n)))
		if err != nil {
			t.Fatalf("Append at %d: %v", l.Size(), err)
		}
		_ = first
	}
}

func newRand(t testing.TB) *rand.Rand {
	seed := uint64(rand.Int64())
	t.Logf("random seed %d", seed)
	return rand.New(rand.NewPCG(seed, 1))
}
