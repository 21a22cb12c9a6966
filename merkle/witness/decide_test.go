package witness

import (
	"net/http"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/crossledger/crossledger/merkle"
)

// tree returns the roots of a tree of n leaves at every size, and a
// consistency proof function, from an in-memory RFC 6962 tree.
func roots(n int) [][]byte {
	h := rfc6962.DefaultHasher
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = h.HashLeaf([]byte{byte(i)})
	}
	var mth func(l [][]byte) []byte
	mth = func(l [][]byte) []byte {
		switch len(l) {
		case 0:
			return h.EmptyRoot()
		case 1:
			return l[0]
		}
		k := 1
		for k*2 < len(l) {
			k *= 2
		}
		return h.HashChildren(mth(l[:k]), mth(l[k:]))
	}
	out := make([][]byte, n+1)
	for i := 0; i <= n; i++ {
		out[i] = mth(leaves[:i])
	}
	return out
}

func TestDecide(t *testing.T) {
	r := roots(8)
	other := rfc6962.DefaultHasher.HashLeaf([]byte("fork"))
	// The consistency proof from 4 to 8 in this tree is the root of
	// leaves [4, 8).
	h := rfc6962.DefaultHasher
	sub := h.HashChildren(h.HashChildren(h.HashLeaf([]byte{4}), h.HashLeaf([]byte{5})), h.HashChildren(h.HashLeaf([]byte{6}), h.HashLeaf([]byte{7})))
	cp := func(size uint64, root []byte) merkle.Checkpoint {
		return merkle.Checkpoint{Origin: "o", Size: size, Hash: root}
	}
	cases := []struct {
		name      string
		size      uint64 // the witness's latest cosigned size
		root      []byte
		req       AddCheckpoint
		cp        merkle.Checkpoint
		code      int // 0: cosign
		conflictN uint64
	}{
		{"first checkpoint of size 0", 0, r[0], AddCheckpoint{OldSize: 0}, cp(0, r[0]), 0, 0},
		{"first checkpoint, any size, no proof", 0, r[0], AddCheckpoint{OldSize: 0}, cp(8, r[8]), 0, 0},
		{"size 0 with a wrong root", 0, r[0], AddCheckpoint{OldSize: 0}, cp(0, other), http.StatusUnprocessableEntity, 0},
		{"proof from size 0", 0, r[0], AddCheckpoint{OldSize: 0, Proof: [][]byte{sub}}, cp(8, r[8]), http.StatusUnprocessableEntity, 0},
		{"valid consistency proof", 4, r[4], AddCheckpoint{OldSize: 4, Proof: [][]byte{sub}}, cp(8, r[8]), 0, 0},
		{"proof that does not verify", 4, r[4], AddCheckpoint{OldSize: 4, Proof: [][]byte{other}}, cp(8, r[8]), http.StatusUnprocessableEntity, 0},
		{"missing proof", 4, r[4], AddCheckpoint{OldSize: 4}, cp(8, r[8]), http.StatusUnprocessableEntity, 0},
		{"forked new root", 4, r[4], AddCheckpoint{OldSize: 4, Proof: [][]byte{sub}}, cp(8, other), http.StatusUnprocessableEntity, 0},
		{"stale old size", 8, r[8], AddCheckpoint{OldSize: 4, Proof: [][]byte{sub}}, cp(8, r[8]), http.StatusConflict, 8},
		{"old size ahead of the witness", 4, r[4], AddCheckpoint{OldSize: 6}, cp(8, r[8]), http.StatusConflict, 4},
		{"rollback: smaller tree", 8, r[8], AddCheckpoint{OldSize: 8}, cp(4, r[4]), http.StatusBadRequest, 0},
		{"same size, same root", 8, r[8], AddCheckpoint{OldSize: 8}, cp(8, r[8]), 0, 0},
		{"same size, other root: a fork", 8, r[8], AddCheckpoint{OldSize: 8}, cp(8, other), http.StatusUnprocessableEntity, 0},
		{"same size with a proof", 8, r[8], AddCheckpoint{OldSize: 8, Proof: [][]byte{sub}}, cp(8, r[8]), http.StatusUnprocessableEntity, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rej := decide(c.size, c.root, c.req, c.cp)
			switch {
			case c.code == 0 && rej != nil:
				t.Fatalf("refused (%d %s), want cosign", rej.code, rej.msg)
			case c.code != 0 && rej == nil:
				t.Fatalf("cosigned, want %d", c.code)
			case c.code != 0 && rej.code != c.code:
				t.Fatalf("got %d (%s), want %d", rej.code, rej.msg, c.code)
			case c.code == http.StatusConflict && rej.size != c.conflictN:
				t.Fatalf("409 reports size %d, want %d", rej.size, c.conflictN)
			}
		})
	}
}
