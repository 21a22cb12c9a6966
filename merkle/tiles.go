package merkle

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

const (
	// TileWidth is the number of hashes in a full tile and the number of
	// entries in a full entry bundle (tlog-tiles).
	TileWidth = layout.TileWidth
	// TileHeight is the number of tree levels a tile spans.
	TileHeight = layout.TileHeight
	// HashSize is the size of every Merkle tree hash (SHA-256).
	HashSize = sha256.Size

	// maxTileLevel bounds tile levels: a uint64 tree never needs a tile at
	// level 8 or above (256**8 = 2**64).
	maxTileLevel = 8
)

// CheckpointPath is the path of the public signed checkpoint.
const CheckpointPath = layout.CheckpointPath

// LeafHash returns the RFC 6962 leaf hash of an entry, SHA-256(0x00 || entry).
func LeafHash(entry []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(entry)
}

// TilePath names one tlog-tiles resource: a hash tile (Entries false) or an
// entry bundle (Entries true). Width 0 is a full tile; 1..255 a partial one.
type TilePath struct {
	Entries bool
	Level   uint64 // hash tile level, 0..63; always 0 for bundles
	Index   uint64
	Width   uint8
}

// String returns the canonical path, e.g. "tile/1/x001/234.p/7" or
// "tile/entries/000". Encoding is delegated to Tessera's api/layout, the
// reference implementation of the path grammar.
func (p TilePath) String() string {
	if p.Entries {
		return layout.EntriesPath(p.Index, p.Width)
	}
	return layout.TilePath(p.Level, p.Index, p.Width)
}

// width returns the number of hashes (or entries) the resource holds.
func (p TilePath) width() int {
	if p.Width == 0 {
		return TileWidth
	}
	return int(p.Width)
}

// ParseTilePath parses a canonical tlog-tiles path without a leading slash:
// "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]". Any non-canonical
// spelling (leading zero groups, "x" prefixes in the wrong place, a width of 0
// or 256, a level with leading zeroes) is rejected, so every resource has
// exactly one name — what an immutable HTTP cache needs.
//
// Parsing uses layout.ParseTileLevelIndexPartial and then insists the parsed
// value encodes back to the same string, because layout alone accepts
// non-canonical spellings such as "x000/001".
func ParseTilePath(path string) (TilePath, error) {
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return TilePath{}, fmt.Errorf("merkle: tile path %q: want prefix \"tile/\"", path)
	}
	var p TilePath
	level, index, ok := strings.Cut(rest, "/")
	if !ok || index == "" {
		return TilePath{}, fmt.Errorf("merkle: tile path %q: missing index", path)
	}
	if level == "entries" {
		p.Entries = true
		i, w, err := layout.ParseTileIndexPartial(index)
		if err != nil {
			return TilePath{}, fmt.Errorf("merkle: tile path %q: %w", path, err)
		}
		p.Index, p.Width = i, w
	} else {
		l, i, w, err := layout.ParseTileLevelIndexPartial(level, index)
		if err != nil {
			return TilePath{}, fmt.Errorf("merkle: tile path %q: %w", path, err)
		}
		p.Level, p.Index, p.Width = l, i, w
	}
	if p.String() != path {
		return TilePath{}, fmt.Errorf("merkle: tile path %q is not canonical (want %q)", path, p.String())
	}
	return p, nil
}

// tileCovers reports whether the resource is part of the tree of the given
// size: a full tile whose end index is ≤ size, or a partial tile of a width
// that the tree of that size has reached (the partial tile at level l for a
// size s has width floor(s/256**l) mod 256; a narrower one existed at an
// earlier size and stays servable while the tile has not filled).
func (p TilePath) covered(size uint64) bool {
	level := p.Level
	if level >= maxTileLevel {
		return false
	}
	atLevel := size >> (TileHeight * level) // hashes at this tile level
	full := atLevel / TileWidth
	if p.Width == 0 {
		return p.Index < full
	}
	if p.Index < full {
		return true // filled since; served from the full tile's prefix
	}
	return p.Index == full && uint64(p.Width) <= atLevel%TileWidth
}

// EncodeBundle encodes entries as a tlog-tiles entry bundle: each entry
// behind its big-endian uint16 length.
func EncodeBundle(entries [][]byte) ([]byte, error) {
	n := 0
	for i, e := range entries {
		if len(e) > MaxEntrySize {
			return nil, &EntryTooLargeError{Index: i, Size: len(e)}
		}
		n += 2 + len(e)
	}
	out := make([]byte, 0, n)
	for _, e := range entries {
		out = appendBundleEntry(out, e)
	}
	return out, nil
}

func appendBundleEntry(dst, e []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(e)))
	return append(dst, e...)
}

var errDangling = errors.New("dangling bytes after last entry")

// DecodeBundle splits an entry bundle into entries (sub-slices of b). It
// rejects a bundle with trailing bytes, or more than 256 entries.
func DecodeBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errDangling
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b)-2 < n {
			return nil, fmt.Errorf("entry %d needs %d bytes, only %d left", len(out), n, len(b)-2)
		}
		if len(out) == TileWidth {
			return nil, fmt.Errorf("more than %d entries", TileWidth)
		}
		out = append(out, b[2:2+n:2+n])
		b = b[2+n:]
	}
	return out, nil
}
