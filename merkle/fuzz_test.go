package merkle_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/transparency-dev/tessera/api/layout"
)

func FuzzDecodeProof(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "golden", "proof-257.tlog-proof")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(merkle.ProofHeader + "\nextra AAEC\nindex 0\n\no\n1\n" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— o AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := merkle.DecodeProof(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes: one spelling per proof.
		if !bytes.Equal(p.Encode(), b) {
			t.Fatalf("re-encoding differs:\n%q\n%q", b, p.Encode())
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	_, v := testKey(f)
	if b, err := os.ReadFile(filepath.Join("testdata", "golden", "checkpoint")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n\n— o AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, _, err := merkle.ParseCheckpoint(b, v); err == nil && c.Origin != testOrigin {
			t.Fatalf("accepted origin %q", c.Origin)
		}
		text, _, _ := bytes.Cut(b, []byte("\n\n"))
		c, err := merkle.ParseCheckpointText(string(text) + "\n")
		if err != nil {
			return
		}
		if got := c.Marshal(); string(got) != string(text)+"\n" {
			t.Fatalf("re-marshal differs: %q vs %q", got, text)
		}
	})
}

func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/entries/x001/x234/067.p/8", "tile/3/x000/001", "tile/0/000.p/0", "tile/63/999.p/255", "tile/entries/.p/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := merkle.ParseTilePath(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("%q parsed to %+v which encodes as %q", s, p, p.String())
		}
		if p.Width == 0 && s != layout.TilePath(p.Level, p.Index, 0) && s != layout.EntriesPath(p.Index, 0) {
			t.Fatalf("%q: not what layout encodes", s)
		}
	})
}
