package merkle_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// TestOracle grows a log by random batches and checks roots, inclusion and
// consistency proofs against transparency-dev/merkle's in-memory tree.
func TestOracle(t *testing.T) {
	ctx := context.Background()
	rng := newRand(t)
	l := openLog(t, t.TempDir(), merkle.Options{JournalLimit: 1 << 16})
	defer l.Close()
	ref := testonly.New(rfc6962.DefaultHasher)
	for l.Size() < 3000 {
		n := uint64(rng.IntN(300))
		if rng.IntN(4) == 0 {
			n = uint64(rng.IntN(3))
		}
		es := entries(l.Size(), n)
		first, err := l.Append(ctx, es, nil)
		if err != nil {
			t.Fatal(err)
		}
		if first != ref.Size() {
			t.Fatalf("first = %d, want %d", first, ref.Size())
		}
		ref.AppendData(es...)
		if !bytes.Equal(l.Root(), ref.Hash()) {
			t.Fatalf("size %d: root %x, want %x", l.Size(), l.Root(), ref.Hash())
		}
		size := l.Size()
		if size == 0 {
			continue
		}
		for range 3 {
			sz := 1 + rng.Uint64N(size)
			idx := rng.Uint64N(sz)
			got, err := l.InclusionProof(ctx, idx, sz)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.InclusionProof(idx, sz)
			if !equalHashes(got, want) {
				t.Fatalf("inclusion(%d, %d) differs from reference", idx, sz)
			}
			s1 := rng.Uint64N(sz + 1)
			got, err = l.ConsistencyProof(ctx, s1, sz)
			if err != nil {
				t.Fatal(err)
			}
			want, _ = ref.ConsistencyProof(s1, sz)
			if !equalHashes(got, want) {
				t.Fatalf("consistency(%d, %d) differs from reference", s1, sz)
			}
			root, err := l.RootAt(ctx, sz)
			if err != nil || !bytes.Equal(root, ref.HashAt(sz)) {
				t.Fatalf("RootAt(%d) = %x, %v; want %x", sz, root, err, ref.HashAt(sz))
			}
		}
	}
	es, err := l.Entries(ctx, 0, l.Size())
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		if !bytes.Equal(e, entry(uint64(i))) {
			t.Fatalf("entry %d = %q", i, e)
		}
	}
	if err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestReopenKeepsStateAndTree(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, v := testKey(t)
	for _, closeCleanly := range []bool{true, false} {
		l := openLog(t, dir, merkle.Options{})
		appendN(t, l, l.Size()+700, 97)
		if _, err := l.Append(ctx, nil, []byte("only state")); err != nil {
			t.Fatal(err)
		}
		size, root, cp := l.Size(), l.Root(), l.Checkpoint()
		if closeCleanly {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			merkle.Abandon(l) // as if the process died: lock dropped, journal not compacted
		}
		l = openLog(t, dir, merkle.Options{})
		if l.Size() != size || !bytes.Equal(l.Root(), root) || !bytes.Equal(l.Checkpoint(), cp) {
			t.Fatalf("reopened at %d, want %d", l.Size(), size)
		}
		if got := string(l.State()); got != "only state" {
			t.Fatalf("State = %q", got)
		}
		c, _, err := merkle.ParseCheckpoint(l.Checkpoint(), v)
		if err != nil || c.Size != size {
			t.Fatalf("checkpoint: %+v, %v", c, err)
		}
		if err := l.Verify(ctx); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
}

func TestEntryTooLarge(t *testing.T) {
	l := openLog(t, t.TempDir(), merkle.Options{})
	defer l.Close()
	_, err := l.Append(context.Background(), [][]byte{[]byte("ok"), make([]byte, merkle.MaxEntrySize+1)}, []byte("s"))
	var tl *merkle.EntryTooLargeError
	if !errors.As(err, &tl) || tl.Index != 1 || tl.Size != merkle.MaxEntrySize+1 {
		t.Fatalf("err = %v, want EntryTooLargeError{1, 65536}", err)
	}
	if l.Size() != 0 || l.State() != nil {
		t.Fatal("rejected batch changed the log")
	}
	if _, err := l.Append(context.Background(), [][]byte{make([]byte, merkle.MaxEntrySize)}, nil); err != nil {
		t.Fatalf("max-size entry: %v", err)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, merkle.Options{})
	skey, _ := testKey(t)
	if _, err := merkle.Open(context.Background(), dir, merkle.Options{SignerKey: skey}); !errors.Is(err, merkle.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	done := make(chan error, 1)
	go func() {
		l2, err := merkle.Open(context.Background(), dir, merkle.Options{SignerKey: skey, WaitForLock: true, LockPollInterval: 5e6})
		if err == nil {
			l2.Close()
		}
		done <- err
	}()
	l.Close()
	if err := <-done; err != nil {
		t.Fatalf("waiting Open: %v", err)
	}
}

func TestProofBundle(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir(), merkle.Options{})
	defer l.Close()
	appendN(t, l, 1000, 333)
	_, v := testKey(t)
	for _, idx := range []uint64{0, 1, 255, 256, 999} {
		p, err := l.ProofBundle(ctx, idx)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := merkle.DecodeProof(p.Encode())
		if err != nil {
			t.Fatalf("DecodeProof: %v\n%s", err, p.Encode())
		}
		if !bytes.Equal(p2.Encode(), p.Encode()) {
			t.Fatal("round trip changed the proof")
		}
		if _, err := p2.Verify(entry(idx), v); err != nil {
			t.Fatal(err)
		}
		if _, err := p2.Verify(entry(idx+1), v); !errors.As(err, new(proof.RootMismatchError)) {
			t.Fatalf("wrong entry verified: %v", err)
		}
	}
}
