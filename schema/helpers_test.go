package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/ and demo/genesis.yaml")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("couldn't read golden file (run with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\ngot:  %s\nwant: %s", name, got, want)
	}
}

// detRand is a deterministic byte stream: SHA-256(seed || counter).
type detRand struct {
	seed string
	n    uint64
	buf  []byte
}

func newDetRand(seed string) *detRand { return &detRand{seed: seed} }

func (r *detRand) Read(p []byte) (int, error) {
	for i := range p {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.n)
			r.n++
			s := sha256.Sum256(append([]byte(r.seed), c[:]...))
			r.buf = s[:]
		}
		p[i] = r.buf[0]
		r.buf = r.buf[1:]
	}
	return len(p), nil
}

// demoIDs are the signers of the demo genesis.
var demoIDs = []string{"civil-affairs", "electricity", "gateway", "market-regulation", "public-security", "real-estate", "tax"}

// Valid identifiers for test data.
const (
	testCitizenA = "11010519491231002X"
	testCitizenB = "110105198001010016"
	testCredit   = "91350100M000100Y43"
)

// roundTrip checks what a decoder made of in: an [*EntryError] matching
// one of its sentinels, or a value v whose canonical encoding is in. It
// reports whether v was decoded.
func roundTrip[T any](t *testing.T, in []byte, v *T, err error, encode func(*T) ([]byte, error)) bool {
	t.Helper()
	if err != nil {
		var ee *EntryError
		if !errors.As(err, &ee) || !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotCanonical) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v is not an *EntryError matching a sentinel", err)
		}
		return false
	}
	out, err := encode(v)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("accepted an input that is not the canonical encoding of what it decoded:\n%s\n%s (%v)", in, out, err)
	}
	return true
}
