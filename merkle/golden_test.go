package merkle_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/merkle"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestGolden pins the bytes of a checkpoint, tiles, bundles and a tlog-proof
// for a log built with a fixed key from fixed entries. Regenerate with
// go test ./merkle -run TestGolden -update.
func TestGolden(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, dir, merkle.Options{})
	defer l.Close()
	appendN(t, l, 300, 300)
	pr, err := l.ProofBundle(ctx, 257)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"proof-257.tlog-proof": pr.Encode()}
	l.Close() // compaction writes the partial tiles and the checkpoint
	for _, name := range []string{"checkpoint", "tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/001.p/44"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	for name, got := range files {
		golden := filepath.Join("testdata", "golden", strings.ReplaceAll(name, "/", "_"))
		if *update {
			os.MkdirAll(filepath.Dir(golden), 0o755)
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", name, golden)
		}
	}
}
