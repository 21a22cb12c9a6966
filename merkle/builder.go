package merkle

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256("").
var emptyRoot = rfc6962.DefaultHasher.EmptyRoot()

// tileWrite is a resource produced by extending the tree.
type tileWrite struct {
	path TilePath
	data []byte
}

// builder extends the right edge of the tree. It holds the compact range of
// [0, size), the hashes of the rightmost (partial) tile of every level, and
// the entries of the rightmost partial bundle: exactly what is needed to
// produce every tile and bundle that a batch touches, without reading.
type builder struct {
	rng          *compact.Range
	tiles        [maxTileLevel][]byte // concatenated hashes of the rightmost tile per level
	bundle       []byte               // encoded entries of the rightmost partial bundle
	bundleN      int
	withBundles  bool
	out          []tileWrite
	completed    []TilePath // full tiles/bundles produced: their partials are obsolete
	visitorError error
}

func newBuilder(withBundles bool) *builder {
	return &builder{rng: rangeFactory.NewEmptyRange(0), withBundles: withBundles}
}

func (b *builder) size() uint64 { return b.rng.End() }

// root returns the root hash of the tree built so far.
func (b *builder) root() []byte {
	if b.size() == 0 {
		return emptyRoot
	}
	r, err := b.rng.GetRootHash(nil)
	if err != nil {
		panic(err) // the range always starts at 0
	}
	return r
}

// load positions the builder at size with the given compact range hashes,
// reading the partial tiles and bundle for that size from st.
func (b *builder) load(st Storage, size uint64, hashes [][]byte) error {
	rng, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return &CorruptError{Path: journalPath, Err: fmt.Errorf("compact range at size %d: %w", size, err)}
	}
	b.rng = rng
	for l := uint64(0); l < maxTileLevel; l++ {
		w := layout.PartialTileSize(l, size>>(TileHeight*(l+1)), size)
		b.tiles[l] = nil // never reuse: published snapshots share these arrays
		if w == 0 {
			continue
		}
		p := TilePath{Level: l, Index: size >> (TileHeight * (l + 1)), Width: w}
		data, err := st.ReadFile(p.String())
		if err != nil {
			return fmt.Errorf("merkle: couldn't read partial tile at size %d: %w", size, err)
		}
		if len(data) != int(w)*HashSize {
			return &CorruptError{Path: p.String(), Err: fmt.Errorf("%d bytes, want %d", len(data), int(w)*HashSize)}
		}
		b.tiles[l] = append(b.tiles[l], data...)
	}
	b.bundle, b.bundleN = nil, 0
	if w := size % TileWidth; w != 0 && b.withBundles {
		p := TilePath{Entries: true, Index: size / TileWidth, Width: uint8(w)}
		data, err := st.ReadFile(p.String())
		if err != nil {
			return fmt.Errorf("merkle: couldn't read partial entry bundle at size %d: %w", size, err)
		}
		ents, err := DecodeBundle(data)
		if err != nil || len(ents) != int(w) {
			return &CorruptError{Path: p.String(), Err: fmt.Errorf("want %d entries: %v", w, err)}
		}
		b.bundle, b.bundleN = append(b.bundle, data...), int(w)
	}
	return nil
}

// add appends one entry (with its precomputed leaf hash).
func (b *builder) add(entry, leafHash []byte) {
	if b.withBundles {
		b.bundle = appendBundleEntry(b.bundle, entry)
		b.bundleN++
		if b.bundleN == TileWidth {
			p := TilePath{Entries: true, Index: b.size() / TileWidth}
			b.out = append(b.out, tileWrite{p, b.bundle})
			b.completed = append(b.completed, p)
			b.bundle, b.bundleN = make([]byte, 0, len(b.bundle)), 0
		}
	}
	if err := b.rng.Append(leafHash, b.visit); err != nil {
		b.visitorError = err
	}
}

// visit receives every node the compact range creates; nodes on levels that
// are multiples of 8 are the hashes stored in tiles.
func (b *builder) visit(id compact.NodeID, hash []byte) {
	if id.Level%TileHeight != 0 {
		return
	}
	l := id.Level / TileHeight
	b.tiles[l] = append(b.tiles[l], hash...)
	if len(b.tiles[l]) == TileWidth*HashSize {
		p := TilePath{Level: uint64(l), Index: id.Index / TileWidth}
		b.out = append(b.out, tileWrite{p, b.tiles[l]})
		b.completed = append(b.completed, p)
		b.tiles[l] = make([]byte, 0, TileWidth*HashSize)
	}
}

// finish returns the full tiles and bundles produced since the last call.
// Partial tiles stay in memory (see [builder.partials]).
func (b *builder) finish() ([]tileWrite, error) {
	if b.visitorError != nil {
		return nil, b.visitorError
	}
	out := b.out
	b.out = nil
	return out, nil
}

// partials returns the partial tiles and bundle of the current size.
func (b *builder) partials() []tileWrite {
	var out []tileWrite
	size := b.size()
	for l := range maxTileLevel {
		if len(b.tiles[l]) > 0 {
			w := len(b.tiles[l]) / HashSize
			p := TilePath{Level: uint64(l), Index: size >> (TileHeight * (uint64(l) + 1)), Width: uint8(w)}
			out = append(out, tileWrite{p, b.tiles[l]})
		}
	}
	if b.withBundles && b.bundleN > 0 {
		p := TilePath{Entries: true, Index: size / TileWidth, Width: uint8(b.bundleN)}
		out = append(out, tileWrite{p, b.bundle})
	}
	return out
}

// edge returns an immutable view of the right edge: the builder only ever
// appends to these arrays, and replaces them when a tile fills.
func (b *builder) edge() (tiles [maxTileLevel][]byte, bundle []byte, bundleN int) {
	for l := range maxTileLevel {
		tiles[l] = b.tiles[l][:len(b.tiles[l]):len(b.tiles[l])]
	}
	return tiles, b.bundle[:len(b.bundle):len(b.bundle)], b.bundleN
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
