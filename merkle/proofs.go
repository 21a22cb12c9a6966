package merkle

import (
	"container/list"
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// expandedTile holds every node of a stored tile: levels[0] are the stored
// hashes, levels[k] the 2**k-wide subtree roots recomputed from them.
type expandedTile struct {
	levels [TileHeight + 1][]byte
}

func expandTile(data []byte) *expandedTile {
	t := &expandedTile{}
	t.levels[0] = data
	h := rfc6962.DefaultHasher
	for k := 1; k <= TileHeight; k++ {
		below := t.levels[k-1]
		n := len(below) / (2 * HashSize)
		row := make([]byte, 0, n*HashSize)
		for i := range n {
			row = append(row, h.HashChildren(below[2*i*HashSize:(2*i+1)*HashSize], below[(2*i+1)*HashSize:(2*i+2)*HashSize])...)
		}
		t.levels[k] = row
	}
	return t
}

// lru is a bounded LRU keyed by tile path. Paths name immutable content
// (a partial tile of width W never changes), so entries never need
// invalidating. It holds expanded hash tiles for proofs and decoded full
// entry bundles for entry reads.
type lru[V any] struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[TilePath]*list.Element
}

type lruItem[V any] struct {
	key TilePath
	val V
}

type tileCache = lru[*expandedTile]

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, ll: list.New(), items: map[TilePath]*list.Element{}}
}

func newTileCache(max int) *tileCache { return newLRU[*expandedTile](max) }

func (c *lru[V]) get(k TilePath) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruItem[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(k TilePath, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.items[k] = c.ll.PushFront(&lruItem[V]{k, v})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*lruItem[V]).key)
	}
}

// tileReader reads nodes from hash tiles: the right edge from the
// published snapshot (pub may be nil: fsck reads only the disk), the rest
// from storage through cache (which may be nil).
type tileReader struct {
	st    Storage
	cache *tileCache
	pub   func() *published
	// pending (may be nil) returns full tiles and bundles that are
	// committed but not yet written by the tile writer.
	pending func(TilePath) ([]byte, bool)
}

// read returns the stored content of p: from the tile writer's queue if it
// is there, else from storage.
func (r *tileReader) read(p TilePath) ([]byte, error) {
	if r.pending != nil && p.Width == 0 {
		if data, ok := r.pending(p); ok {
			return data, nil
		}
	}
	return r.st.ReadFile(p.String())
}

// load returns the bytes of a tile resource. A partial tile is the prefix
// of any later version of the same tile, so it is served from the
// in-memory right edge if that tile is still the rightmost, else from its
// own file, else from the prefix of the full tile once partials were
// removed.
func (r *tileReader) load(p TilePath) ([]byte, error) {
	n := p.width() * HashSize
	if p.Width != 0 && r.pub != nil {
		pub := r.pub()
		if p.Level < maxTileLevel && p.Index == pub.size>>(TileHeight*(p.Level+1)) && len(pub.edge[p.Level]) >= n {
			return pub.edge[p.Level][:n], nil
		}
	}
	data, err := r.read(p)
	if isNotExist(err) && p.Width != 0 {
		if full, ferr := r.read(TilePath{Level: p.Level, Index: p.Index}); ferr == nil {
			data, err = prefix(full, n), nil
		}
	}
	if err != nil {
		return nil, err
	}
	if len(data) != n {
		return nil, &CorruptError{Path: p.String(), Err: fmt.Errorf("%d bytes, want %d", len(data), n)}
	}
	return data, nil
}

// loadBundle is load for entry bundles.
func (r *tileReader) loadBundle(p TilePath) ([]byte, error) {
	if p.Width != 0 && r.pub != nil {
		pub := r.pub()
		if p.Index == pub.size/TileWidth && pub.edgeBundleN >= int(p.Width) {
			return bundlePrefix(pub.edgeBundle, int(p.Width))
		}
	}
	data, err := r.read(p)
	if isNotExist(err) && p.Width != 0 {
		if full, ferr := r.read(TilePath{Entries: true, Index: p.Index}); ferr == nil {
			return bundlePrefix(full, int(p.Width))
		}
	}
	return data, err
}

// bundlePrefix returns the encoding of the first n entries of a bundle.
func bundlePrefix(b []byte, n int) ([]byte, error) {
	off := 0
	for range n {
		if len(b)-off < 2 {
			return nil, errDangling
		}
		off += 2 + int(binary.BigEndian.Uint16(b[off:]))
		if off > len(b) {
			return nil, errDangling
		}
	}
	return b[:off:off], nil
}

// tile returns hash tile (level, index) as of tree size size, expanded.
func (r *tileReader) tile(level, index, size uint64) (*expandedTile, error) {
	p := TilePath{Level: level, Index: index, Width: layout.PartialTileSize(level, index, size)}
	if r.cache != nil {
		if t, ok := r.cache.get(p); ok {
			return t, nil
		}
	}
	data, err := r.load(p)
	if err != nil {
		return nil, fmt.Errorf("merkle: couldn't read %s: %w", p, err)
	}
	t := expandTile(data)
	if r.cache != nil {
		r.cache.put(p, t)
	}
	return t, nil
}

// node returns the hash of a perfect subtree node of the tree of size size.
func (r *tileReader) node(id compact.NodeID, size uint64) ([]byte, error) {
	tl, ti, k, ni := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
	t, err := r.tile(tl, ti, size)
	if err != nil {
		return nil, err
	}
	row := t.levels[k]
	if (ni+1)*HashSize > uint64(len(row)) {
		p := TilePath{Level: tl, Index: ti, Width: layout.PartialTileSize(tl, ti, size)}
		return nil, &CorruptError{Path: p.String(), Err: fmt.Errorf("tile lacks node %d at level %d", ni, k)}
	}
	return row[ni*HashSize : (ni+1)*HashSize], nil
}

func (r *tileReader) proofFromNodes(ctx context.Context, nodes proof.Nodes, size uint64) ([][]byte, error) {
	hashes := make([][]byte, 0, len(nodes.IDs))
	for _, id := range nodes.IDs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := r.node(id, size)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, append([]byte(nil), h...))
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// InclusionProof returns the RFC 6962 inclusion proof of the entry at index
// in the tree of the given size, which must not exceed [Log.Size]. Proofs
// are built from stored tiles (through a bounded cache), so they are proofs
// about what the log serves, not about its memory.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if cur := l.Size(); size > cur || index >= size {
		return nil, fmt.Errorf("%w: inclusion of %d in tree size %d (log size %d)", ErrOutOfRange, index, size, cur)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutOfRange, err)
	}
	return l.tr.proofFromNodes(ctx, nodes, size)
}

// ConsistencyProof returns the RFC 6962 consistency proof between tree
// sizes size1 ≤ size2 ≤ [Log.Size]. It is empty when size1 is 0 or equal to
// size2.
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if cur := l.Size(); size2 > cur || size1 > size2 {
		return nil, fmt.Errorf("%w: consistency from %d to %d (log size %d)", ErrOutOfRange, size1, size2, cur)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOutOfRange, err)
	}
	return l.tr.proofFromNodes(ctx, nodes, size2)
}

// RootAt returns the root hash of the tree of size size ≤ [Log.Size],
// computed from stored tiles.
func (l *Log) RootAt(ctx context.Context, size uint64) ([]byte, error) {
	if cur := l.Size(); size > cur {
		return nil, fmt.Errorf("%w: root at %d (log size %d)", ErrOutOfRange, size, cur)
	}
	return l.tr.rootFromTiles(ctx, size)
}

func (r *tileReader) rootFromTiles(ctx context.Context, size uint64) ([]byte, error) {
	if size == 0 {
		return emptyRoot, nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := r.node(id, size)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	rng, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}
