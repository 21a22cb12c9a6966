package audit

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/crossledger/crossledger/merkle"
)

func leafHashes(n uint64, tweak map[uint64]bool) [][]byte {
	out := make([][]byte, n)
	for i := range n {
		e := fmt.Sprintf("entry %d", i)
		if tweak[i] {
			e += " (other history)"
		}
		out[i] = merkle.LeafHash([]byte(e))
	}
	return out
}

// refNode is the reference hash of a perfect subtree, by recursion.
func refNode(leaves [][]byte, id compact.NodeID) []byte {
	lo, hi := id.Coverage()
	var rec func(lo, hi uint64) []byte
	rec = func(lo, hi uint64) []byte {
		if hi-lo == 1 {
			return leaves[lo]
		}
		mid := lo + (hi-lo)/2
		return hasher.HashChildren(rec(lo, mid), rec(mid, hi))
	}
	return rec(lo, hi)
}

func edgeOf(leaves [][]byte) (*edge, []fullTile) {
	e := newEdge()
	var full []fullTile
	for _, l := range leaves {
		e.append(l)
		full = append(full, e.takeFull()...)
	}
	return e, full
}

// TestCheckConsistency: the proof built from the old compact range and the
// new tree's nodes is the reference proof, verifies, and fails for a tree
// that rewrote an old leaf.
func TestCheckConsistency(t *testing.T) {
	const max = 1100
	leaves := leafHashes(max, nil)
	ref := testonly.New(hasher)
	ref.Append(leaves...)
	sizes := []uint64{1, 2, 3, 7, 8, 255, 256, 257, 511, 512, 513, 700, 1024, 1099, 1100}
	for _, m := range sizes {
		old, _ := edgeOf(leaves[:m])
		for _, n := range sizes {
			if n < m {
				continue
			}
			src := func(id compact.NodeID) ([]byte, error) {
				if lo, hi := id.Coverage(); lo < m || hi > n {
					return nil, fmt.Errorf("node %v read outside [%d, %d)", id, m, n)
				}
				return refNode(leaves, id), nil
			}
			got, err := checkConsistency(old.rng, n, ref.HashAt(n), src)
			if err != nil {
				t.Fatalf("%d→%d: %v", m, n, err)
			}
			want, _ := ref.ConsistencyProof(m, n)
			if m == n {
				want = nil
			}
			if len(got) != len(want) {
				t.Fatalf("%d→%d: proof of %d hashes, want %d", m, n, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%d→%d: proof hash %d differs from the reference", m, n, i)
				}
			}
			if n == m {
				continue
			}
			// The same sizes, a history that changed leaf m-1.
			forked := leafHashes(n, map[uint64]bool{m - 1: true})
			fref := testonly.New(hasher)
			fref.Append(forked...)
			fsrc := func(id compact.NodeID) ([]byte, error) { return refNode(forked, id), nil }
			var ce *ConsistencyError
			if _, err := checkConsistency(old.rng, n, fref.HashAt(n), fsrc); !errors.As(err, &ce) {
				t.Fatalf("%d→%d forked: %v, want a ConsistencyError", m, n, err)
			}
			// extendRange reaches the same verdicts.
			if r, err := extendRange(old.rng, n, src); err != nil || !bytes.Equal(rangeRoot(r), ref.HashAt(n)) {
				t.Fatalf("%d→%d: extendRange: %v", m, n, err)
			}
			if r, _ := extendRange(old.rng, n, fsrc); bytes.Equal(rangeRoot(r), fref.HashAt(n)) {
				t.Fatalf("%d→%d forked: extendRange hashes to the forked root", m, n)
			}
		}
	}
}

// TestEdgeTiles: the tiles the edge fills and keeps are the tree's nodes
// at levels 0, 8, 16, …, and nodeFromTile reads every node back.
func TestEdgeTiles(t *testing.T) {
	const n = 256*256 + 300
	leaves := leafHashes(n, nil)
	e, full := edgeOf(leaves)
	tiles := map[tileRef][]byte{}
	for _, f := range full {
		tiles[tileRef{Level: f.Level, Index: f.Index}] = f.Data
	}
	for l := range uint64(tileLevels) {
		if w := len(e.tiles[l]) / hashSize; w > 0 {
			tiles[tileRef{Level: l, Index: n >> (8 * (l + 1)), Width: uint8(w)}] = e.tiles[l]
		}
	}
	if len(full) != 256+1+1 || len(tiles) != 256+1+1+3 {
		t.Fatalf("%d full tiles, %d in all", len(full), len(tiles))
	}
	for _, id := range append(compact.RangeNodes(0, n, nil), compact.NewNodeID(0, 5), compact.NewNodeID(9, 3), compact.NewNodeID(16, 0), compact.NewNodeID(3, n/8-1)) {
		ref, k, i := nodeTile(id, n)
		data, ok := tiles[ref]
		if !ok {
			t.Fatalf("node %v: tile %s not built", id, ref.path())
		}
		h, ok := nodeFromTile(data, k, i)
		if !ok || !bytes.Equal(h, refNode(leaves, id)) {
			t.Errorf("node %v from %s: wrong hash", id, ref.path())
		}
	}
	if !bytes.Equal(e.root(), func() []byte { r := testonly.New(hasher); r.Append(leaves...); return r.Hash() }()) {
		t.Error("edge root differs from the reference")
	}
	// A saved edge restores to the same tree, and refuses the wrong shape.
	r, err := restoreEdge(n, e.rng.Hashes(), e.tiles)
	if err != nil || !bytes.Equal(r.root(), e.root()) {
		t.Fatalf("restoreEdge: %v", err)
	}
	if _, err := restoreEdge(n+1, e.rng.Hashes(), e.tiles); err == nil {
		t.Error("restoreEdge accepted the wrong size")
	}
}

func TestFirstDiff(t *testing.T) {
	a := bytes.Repeat([]byte{1}, 3*hashSize)
	b := bytes.Clone(a)
	b[2*hashSize+5] ^= 1
	for _, tc := range []struct {
		a, b []byte
		want int
	}{{a, a, -1}, {a, b, 2}, {a, a[:hashSize], 1}, {nil, a, 0}} {
		if got := firstDiff(tc.a, tc.b); got != tc.want {
			t.Errorf("firstDiff = %d, want %d", got, tc.want)
		}
	}
}
