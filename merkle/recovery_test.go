package merkle_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/faultstore"
)

// TestTamper flips one random bit in a random tile, entry bundle or the
// checkpoint and requires Verify to name that file, 100 times out of 100.
func TestTamper(t *testing.T) {
	ctx := context.Background()
	rng := newRand(t)
	dir := t.TempDir()
	l := openLog(t, dir, merkle.Options{JournalLimit: 1 << 14})
	appendN(t, l, 256*3+77, 50) // leaves some older partials beside full tiles
	appendN(t, l, 70000, 8192)  // level-1 and level-2 tiles
	appendN(t, l, 70000+1234, 31)
	if err := l.Verify(ctx); err != nil {
		t.Fatalf("clean log: %v", err)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if !d.IsDir() && (strings.HasPrefix(rel, "tile/") || rel == "checkpoint") {
			files = append(files, rel)
		}
		return nil
	})
	kinds := map[string]int{}
	for i := range 100 {
		// Bias towards each kind so all are exercised.
		var name string
		switch i % 4 {
		case 0:
			name = "checkpoint"
		case 1:
			name = pick(rng.IntN, files, "tile/entries/")
		case 2:
			name = pick(rng.IntN, files, "tile/0/")
		default:
			name = files[rng.IntN(len(files))]
		}
		kinds[strings.SplitN(name, "/", 3)[min(1, strings.Count(name, "/"))]]++
		p := filepath.Join(dir, name)
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(orig)
		bit := rng.IntN(len(bad) * 8)
		bad[bit/8] ^= 1 << (bit % 8)
		os.WriteFile(p, bad, 0o644)
		err = l.Verify(ctx)
		os.WriteFile(p, orig, 0o644)
		var ve *merkle.VerifyError
		if !errors.As(err, &ve) {
			t.Fatalf("flip %d of bit %d in %s: Verify = %v", i, bit, name, err)
		}
		if !slices.Contains(ve.Paths(), name) {
			t.Fatalf("flip of bit %d in %s: reported %v", bit, name, ve)
		}
	}
	t.Logf("files flipped by kind: %v", kinds)
	if err := l.Verify(ctx); err != nil {
		t.Fatalf("restored log: %v", err)
	}
	l.Close()
}

func pick(intn func(int) int, files []string, prefix string) string {
	var c []string
	for _, f := range files {
		if strings.HasPrefix(f, prefix) {
			c = append(c, f)
		}
	}
	return c[intn(len(c))]
}

// TestFaults fails every mutation of an Append (and of the journal
// compaction it triggers) in every mode, then reopens the directory and
// checks the batch is either wholly there or wholly absent, agreeing with
// the committed state.
func TestFaults(t *testing.T) {
	ctx := context.Background()
	modes := []faultstore.Mode{faultstore.FailNotPersisted, faultstore.FailPersisted, faultstore.Torn, faultstore.Crash}
	// Count the mutations of one Append that also compacts the journal.
	probe := func() int {
		dir := t.TempDir()
		fsx := faultstore.New(merkle.NewDirStorage(dir))
		l := openLog(t, dir, merkle.Options{Storage: fsx, JournalLimit: 1})
		appendN(t, l, 300, 100)
		fsx.FailAt(0, 0)
		if _, err := l.Append(ctx, entries(300, 20), []byte("new")); err != nil {
			t.Fatal(err)
		}
		n := fsx.Ops()
		merkle.Abandon(l)
		return n
	}
	ops := probe()
	if ops < 8 {
		t.Fatalf("only %d mutations per append?", ops)
	}
	for _, mode := range modes {
		for at := 1; at <= ops; at++ {
			t.Run(fmt.Sprintf("%v/op%d", mode, at), func(t *testing.T) {
				dir := t.TempDir()
				fsx := faultstore.New(merkle.NewDirStorage(dir))
				l := openLog(t, dir, merkle.Options{Storage: fsx, JournalLimit: 1})
				appendN(t, l, 300, 100)
				oldRoot := l.Root()
				fsx.FailAt(at, mode)
				_, err := l.Append(ctx, entries(300, 20), []byte("new"))
				if err == nil {
					t.Fatalf("fault at op %d (%s) not reported", at, fsx.Trace()[at-1])
				}
				if _, err := l.Append(ctx, entries(320, 1), nil); err == nil && mode != faultstore.FailPersisted {
					// A failed Log must refuse further writes.
					t.Fatalf("Append after failure succeeded")
				}
				merkle.Abandon(l)

				l = openLog(t, dir, merkle.Options{})
				defer l.Close()
				switch string(l.State()) {
				case "new":
					if l.Size() != 320 {
						t.Fatalf("state says committed, size %d", l.Size())
					}
				case "state 300":
					if l.Size() != 300 || !bytes.Equal(l.Root(), oldRoot) {
						t.Fatalf("state says not committed, size %d", l.Size())
					}
				default:
					t.Fatalf("state %q", l.State())
				}
				if err := l.Verify(ctx); err != nil {
					t.Fatal(err)
				}
				// And the log goes on.
				appendN(t, l, l.Size()+300, 128)
				if err := l.Verify(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestOpenRefusesMismatch: a tile that no longer matches the checkpoint
// stops Open with the evidence.
func TestOpenRefusesMismatch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, merkle.Options{})
	appendN(t, l, 1000, 1000)
	l.Close()
	// Open recomputes the root from the right edge of the tree (the
	// compact range nodes); Verify reads everything.
	p := filepath.Join(dir, "tile/0/003.p/232")
	b, _ := os.ReadFile(p)
	b[0] ^= 1
	os.WriteFile(p, b, 0o644)
	skey, _ := testKey(t)
	_, err := merkle.Open(context.Background(), dir, merkle.Options{SignerKey: skey})
	var rm *merkle.RootMismatchError
	if !errors.As(err, &rm) || rm.Size != 1000 || bytes.Equal(rm.Expected, rm.Computed) {
		t.Fatalf("Open = %v, want RootMismatchError at 1000", err)
	}
	t.Log(err)
}

// TestTornJournalTail: bytes of an unfinished record are dropped; a damaged
// record followed by more data is refused.
func TestTornJournalTail(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, merkle.Options{})
	appendN(t, l, 100, 10)
	merkle.Abandon(l)
	j := filepath.Join(dir, "journal")
	data, _ := os.ReadFile(j)
	os.WriteFile(j, append(bytes.Clone(data), 0, 0, 1, 0, 7, 7), 0o644)
	l = openLog(t, dir, merkle.Options{})
	if l.Size() != 100 {
		t.Fatalf("size %d", l.Size())
	}
	merkle.Abandon(l)
	skey, _ := testKey(t)
	for _, tc := range []struct {
		off  int
		path string
	}{
		{len(data) / 2, "journal"},      // a record with more behind it
		{len(data) - 300, "checkpoint"}, // the last record, but its checkpoint was published
	} {
		bad := bytes.Clone(data)
		bad[tc.off] ^= 0x40
		os.WriteFile(j, bad, 0o644)
		_, err := merkle.Open(context.Background(), dir, merkle.Options{SignerKey: skey})
		var ce *merkle.CorruptError
		if !errors.As(err, &ce) || ce.Path != tc.path {
			t.Fatalf("flip at %d: Open = %v, want CorruptError for %s", tc.off, err, tc.path)
		}
	}
}
