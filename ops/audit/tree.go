package audit

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/crossledger/crossledger/merkle"
)

// This file is the audit's tree arithmetic, without I/O: the right edge
// of the tree recomputed from entries, the hash tiles it completes, the
// nodes read out of served tiles, and the consistency proof built from
// them.

const (
	hashSize = merkle.HashSize
	// tileLevels is the number of tile levels a uint64 tree can have.
	tileLevels = 8
	// tileBytes is the size of a full hash tile.
	tileBytes = merkle.TileWidth * hashSize
)

var (
	hasher       = rfc6962.DefaultHasher
	rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}
	emptyRoot    = hasher.EmptyRoot()
)

// edge is the verified right edge of the tree at some size: its compact
// range, and at every tile level the hashes of the tile that is not full
// yet (the partial tile a log serves at that size). Appending leaves
// yields the hash tiles that fill.
type edge struct {
	rng   *compact.Range
	tiles [tileLevels][]byte // concatenated hashes, width × 32 bytes
	full  []fullTile         // tiles filled by appends since the last take
}

// fullTile is one hash tile the recomputed tree completed.
type fullTile struct {
	Level, Index uint64
	Data         []byte
}

func newEdge() *edge { return &edge{rng: rangeFactory.NewEmptyRange(0)} }

// restoreEdge rebuilds an edge from its saved form, checking the shapes
// against the size.
func restoreEdge(size uint64, rng [][]byte, tiles [tileLevels][]byte) (*edge, error) {
	if want := len(compact.RangeNodes(0, size, nil)); len(rng) != want {
		return nil, fmt.Errorf("compact range of size %d has %d hashes, want %d", size, len(rng), want)
	}
	for _, h := range rng {
		if len(h) != hashSize {
			return nil, errors.New("compact range hash is not 32 bytes")
		}
	}
	r, err := rangeFactory.NewRange(0, size, cloneHashes(rng))
	if err != nil {
		return nil, err
	}
	e := &edge{rng: r}
	for l := range tileLevels {
		if want := edgeWidth(size, uint64(l)) * hashSize; len(tiles[l]) != want {
			return nil, fmt.Errorf("edge tile at level %d has %d bytes, want %d", l, len(tiles[l]), want)
		}
		e.tiles[l] = bytes.Clone(tiles[l])
	}
	return e, nil
}

// edgeWidth is the width of the partial tile at level l of a tree of size
// (0 when that tile is full or empty).
func edgeWidth(size, l uint64) int {
	return int((size >> (merkle.TileHeight * l)) % merkle.TileWidth)
}

func cloneHashes(hs [][]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = bytes.Clone(h)
	}
	return out
}

func (e *edge) size() uint64 { return e.rng.End() }

// append adds one leaf hash.
func (e *edge) append(leaf []byte) {
	// Append reports every node it creates, the leaf included; the ones
	// at tree levels 0, 8, 16, … are the hashes tiles hold.
	e.rng.Append(leaf, func(id compact.NodeID, h []byte) {
		if id.Level%merkle.TileHeight != 0 {
			return
		}
		l := id.Level / merkle.TileHeight
		if l >= tileLevels {
			return
		}
		e.tiles[l] = append(e.tiles[l], h...)
		if len(e.tiles[l]) == tileBytes {
			e.full = append(e.full, fullTile{Level: uint64(l), Index: id.Index / merkle.TileWidth, Data: e.tiles[l]})
			e.tiles[l] = nil
		}
	})
}

// takeFull returns and forgets the tiles filled since the last call.
func (e *edge) takeFull() []fullTile {
	f := e.full
	e.full = nil
	return f
}

// root is the root hash of the tree so far.
func (e *edge) root() []byte { return rangeRoot(e.rng) }

func rangeRoot(r *compact.Range) []byte {
	if r.End() == 0 {
		return emptyRoot
	}
	h, _ := r.GetRootHash(nil) // begins at 0: never fails
	return h
}

// tileRef names the hash tile holding a node, at the width a tree of a
// given size has it.
type tileRef struct {
	Level, Index uint64
	Width        uint8 // 0: full
}

func (t tileRef) path() string {
	return merkle.TilePath{Level: t.Level, Index: t.Index, Width: t.Width}.String()
}

func (t tileRef) bytes() int {
	if t.Width == 0 {
		return tileBytes
	}
	return int(t.Width) * hashSize
}

// nodeTile returns the tile holding node id in a tree of size, and where
// in it: k levels above the tile's base, at position i of that row.
func nodeTile(id compact.NodeID, size uint64) (t tileRef, k uint, i uint64) {
	tl, ti, k, i := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
	return tileRef{Level: tl, Index: ti, Width: layout.PartialTileSize(tl, ti, size)}, k, i
}

// nodeFromTile computes the hash k levels above a tile's base at position
// i from the tile's data; ok is false if the tile is too narrow for it.
func nodeFromTile(data []byte, k uint, i uint64) ([]byte, bool) {
	n := uint64(1) << k // base hashes under the node
	lo, hi := i*n*hashSize, (i+1)*n*hashSize
	if hi > uint64(len(data)) || len(data)%hashSize != 0 {
		return nil, false
	}
	return subtreeHash(data[lo:hi]), true
}

// subtreeHash is the root of a perfect subtree given its 2^k base hashes.
func subtreeHash(row []byte) []byte {
	if len(row) == hashSize {
		return bytes.Clone(row)
	}
	half := len(row) / 2
	return hasher.HashChildren(subtreeHash(row[:half]), subtreeHash(row[half:]))
}

// nodeSource reads node hashes of the served tree at its size.
type nodeSource func(id compact.NodeID) ([]byte, error)

// extendRange returns old extended to size by the nodes of [old.End(),
// size) read from src. The result is a compact range of [0, size) whose
// left part is old's, so its root equals the served root only if the
// served tree of that size extends the old one.
func extendRange(old *compact.Range, size uint64, src nodeSource) (*compact.Range, error) {
	ids := compact.RangeNodes(old.End(), size, nil)
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := src(id)
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	right, err := rangeFactory.NewRange(old.End(), size, hs)
	if err != nil {
		return nil, err
	}
	out, err := rangeFactory.NewRange(0, old.End(), cloneHashes(old.Hashes()))
	if err != nil {
		return nil, err
	}
	if err := out.AppendRange(right, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// ConsistencyError: a checkpoint does not extend the one verified before.
type ConsistencyError struct {
	From, To uint64
	Reason   string
}

func (e *ConsistencyError) Error() string {
	return fmt.Sprintf("tree of size %d is not consistent with the verified tree of size %d: %s", e.To, e.From, e.Reason)
}

// checkConsistency builds the RFC 6962 consistency proof from the tree of
// the old compact range to the served tree of size newSize — the nodes
// left of the old size from old itself (they are its compact range), the
// ones right of it from src — and verifies it against both roots.
func checkConsistency(old *compact.Range, newSize uint64, newRoot []byte, src nodeSource) ([][]byte, error) {
	oldSize := old.End()
	if oldSize == 0 || oldSize == newSize {
		return nil, nil
	}
	nodes, err := proof.Consistency(oldSize, newSize)
	if err != nil {
		return nil, err
	}
	have := map[compact.NodeID][]byte{}
	for i, id := range compact.RangeNodes(0, oldSize, nil) {
		have[id] = old.Hashes()[i]
	}
	hs := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		lo, hi := id.Coverage()
		switch {
		case hi <= oldSize:
			h, ok := have[id]
			if !ok {
				return nil, fmt.Errorf("audit: consistency proof %d→%d needs node %v left of the old size that is not in its compact range", oldSize, newSize, id)
			}
			hs[i] = bytes.Clone(h)
		case lo >= oldSize:
			h, err := src(id)
			if err != nil {
				return nil, err
			}
			hs[i] = h
		default:
			return nil, fmt.Errorf("audit: consistency proof %d→%d needs node %v across the old size", oldSize, newSize, id)
		}
	}
	p, err := nodes.Rehash(hs, hasher.HashChildren)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyConsistency(hasher, oldSize, newSize, p, rangeRoot(old), newRoot); err != nil {
		return p, &ConsistencyError{From: oldSize, To: newSize, Reason: "the consistency proof built from the served tiles does not lead from the old root to the new one"}
	}
	return p, nil
}

// firstDiff is the first hash position where two tiles differ, or -1.
func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i += hashSize {
		if !bytes.Equal(a[i:min(i+hashSize, len(a))], b[i:min(i+hashSize, len(b))]) {
			return i / hashSize
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b)) / hashSize
	}
	return -1
}
