package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
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
