package merkle

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"
)

// Verify is the log's fsck. It recomputes the whole tree from the entry
// bundles and checks, against it and against the signed checkpoint, every
// stored hash tile, every entry bundle, every leftover older partial tile,
// and the public checkpoint. It reads storage only (never the tile cache)
// and holds the writer lock for its duration, so Appends wait.
//
// Blame for a mismatch goes where a single corruption explains it: if the
// bundles reproduce the checkpoint root, differing tiles are corrupt; if
// instead the stored tiles reproduce the root, bundles whose leaf hashes
// disagree with level-0 tiles are corrupt; otherwise everything that
// disagrees is listed. The result is nil or a [*VerifyError].
func (l *Log) Verify(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.usable(); err != nil {
		return err
	}
	// Put the whole head on disk first, so that what is checked is files.
	if l.uncompacted > 0 {
		pub := l.pub.Load()
		if err := l.rotate(pub.checkpoint, pub.state); err != nil {
			l.broken = err
			return fmt.Errorf("merkle: couldn't compact before verifying: %w", err)
		}
	}
	pub := l.pub.Load()
	size := pub.size
	v := &verifier{st: l.st, size: size, expected: map[string][]byte{}}
	tr := &tileReader{st: l.st} // no cache: read what is on disk

	// 1. The public checkpoint.
	wantRoot := pub.root
	if data, err := l.st.ReadFile(CheckpointPath); err != nil {
		v.problem(CheckpointPath, "unreadable: %v", err)
	} else if c, _, err := ParseCheckpoint(data, l.verifier); err != nil {
		v.problem(CheckpointPath, "%v", err)
	} else if c.Size != size || !bytes.Equal(c.Hash, pub.root) {
		v.problem(CheckpointPath, "size %d root %s, but the committed head is size %d root %s", c.Size, b64(c.Hash), size, b64(pub.root))
	}

	// 2. Recompute the tree from the bundles, comparing tiles as they fill.
	b := newBuilder(false)
	var badBundles []string
	for idx := uint64(0); idx*TileWidth < size; idx++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		bp := TilePath{Entries: true, Index: idx, Width: layout.PartialTileSize(0, idx, size)}
		want := bp.width()
		stored0, _ := l.st.ReadFile(TilePath{Index: idx, Width: bp.Width}.String())
		leaves, err := v.bundleLeaves(bp)
		if err != nil {
			v.problem(bp.String(), "%v", err)
			// Carry on with the level-0 tile's hashes so the rest is checked.
			leaves = nil
			for i := 0; i < want; i++ {
				h := make([]byte, HashSize)
				if len(stored0) >= (i+1)*HashSize {
					copy(h, stored0[i*HashSize:])
				}
				leaves = append(leaves, h)
			}
		} else if !bytes.Equal(bytes.Join(leaves, nil), stored0) {
			badBundles = append(badBundles, bp.String())
		}
		for _, h := range leaves {
			b.add(nil, h)
		}
		out, _ := b.finish()
		for _, w := range out {
			v.expected[w.path.String()] = w.data
		}
	}
	computed := b.root()
	for _, w := range b.partials() {
		v.expected[w.path.String()] = w.data
	}
	// Keep full tiles and the partials of this size, not the intermediate
	// partials produced on the way.
	for name := range v.expected {
		p, _ := ParseTilePath(name)
		if p.Width != 0 && p.Width != layout.PartialTileSize(p.Level, p.Index, size) {
			delete(v.expected, name)
		}
	}

	// 3. Compare every expected tile with storage.
	var badTiles []string
	for name, data := range v.expected {
		stored, err := l.st.ReadFile(name)
		if err != nil {
			v.problem(name, "missing: %v", err)
			continue
		}
		if !bytes.Equal(stored, data) {
			badTiles = append(badTiles, name)
		}
	}
	storedRoot, rootErr := tr.rootFromTiles(ctx, size)

	switch {
	case bytes.Equal(computed, wantRoot):
		for _, n := range badTiles {
			v.problem(n, "differs from the tree recomputed from entry bundles (which matches the checkpoint)")
		}
	case rootErr == nil && bytes.Equal(storedRoot, wantRoot):
		for _, n := range badBundles {
			v.problem(n, "entries hash to leaves that differ from the level-0 tile, whose tree matches the checkpoint")
		}
		for _, n := range badTiles {
			if strings.HasPrefix(n, "tile/0/") {
				continue // explained by the bundle above
			}
			v.problem(n, "differs from the tree recomputed from entry bundles")
		}
	default:
		v.problem(CheckpointPath, "root %s matches neither the entry bundles (%s) nor the tiles (%s, %v)", b64(wantRoot), b64(computed), b64(storedRoot), rootErr)
		for _, n := range badBundles {
			v.problem(n, "entries disagree with the level-0 tile")
		}
		for _, n := range badTiles {
			v.problem(n, "differs from the tree recomputed from entry bundles")
		}
	}

	// 4. Every other file under tile/ must be an older partial that is a
	// prefix of its current version.
	files, err := walkFiles(l.st, "tile")
	if err != nil {
		return fmt.Errorf("merkle: couldn't list tiles: %w", err)
	}
	for _, name := range files {
		if _, ok := v.expected[name]; ok {
			continue
		}
		v.checkExtra(name)
	}
	sortProblems(v.problems)
	if len(v.problems) > 0 {
		return &VerifyError{Size: size, Problems: v.problems}
	}
	return nil
}

type verifier struct {
	st       Storage
	size     uint64
	expected map[string][]byte // hash tiles recomputed from the bundles
	problems []Problem
	bundles  map[string]bool
}

func (v *verifier) problem(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Detail: fmt.Sprintf(format, args...)})
}

func (v *verifier) bundleLeaves(p TilePath) ([][]byte, error) {
	data, err := v.st.ReadFile(p.String())
	if err != nil {
		return nil, fmt.Errorf("unreadable: %w", err)
	}
	if v.bundles == nil {
		v.bundles = map[string]bool{}
	}
	v.bundles[p.String()] = true
	ents, err := DecodeBundle(data)
	if err != nil {
		return nil, fmt.Errorf("malformed bundle: %w", err)
	}
	if len(ents) != p.width() {
		return nil, fmt.Errorf("%d entries, want %d", len(ents), p.width())
	}
	leaves := make([][]byte, len(ents))
	for i, e := range ents {
		leaves[i] = LeafHash(e)
	}
	return leaves, nil
}

func (v *verifier) checkExtra(name string) {
	if v.bundles[name] {
		return
	}
	p, err := ParseTilePath(name)
	if err != nil {
		v.problem(name, "unexpected file in the tile tree")
		return
	}
	if p.Width == 0 || !p.covered(v.size) {
		v.problem(name, "not part of the tree at size %d", v.size)
		return
	}
	data, err := v.st.ReadFile(name)
	if err != nil {
		v.problem(name, "unreadable: %v", err)
		return
	}
	if p.Entries {
		cur := TilePath{Entries: true, Index: p.Index, Width: layout.PartialTileSize(0, p.Index, v.size)}
		full, err := v.st.ReadFile(cur.String())
		if err != nil || !bytes.HasPrefix(full, data) {
			v.problem(name, "older partial bundle is not a prefix of %s", cur)
			return
		}
		if ents, err := DecodeBundle(data); err != nil || len(ents) != p.width() {
			v.problem(name, "older partial bundle does not hold %d entries", p.width())
		}
		return
	}
	cur := TilePath{Level: p.Level, Index: p.Index, Width: layout.PartialTileSize(p.Level, p.Index, v.size)}
	if !bytes.Equal(data, prefix(v.expected[cur.String()], p.width()*HashSize)) {
		v.problem(name, "older partial tile is not a prefix of %s recomputed from entry bundles", cur)
	}
}

func prefix(b []byte, n int) []byte {
	if len(b) < n {
		return nil
	}
	return b[:n]
}

func sortProblems(ps []Problem) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Path != ps[j].Path {
			return ps[i].Path < ps[j].Path
		}
		return ps[i].Detail < ps[j].Detail
	})
}
