package ingest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Payloads is the private payload store: the disclosures (salts and
// values) of logged record changes, by leaf index. It lives in its own
// directory, is never served, and is the only place personal data is
// kept besides the projection.
//
// # Format
//
// One file per appended batch, named by its leaf range:
//
//	<dir>/<first, 20 digits>-<n>.json   {"first":F,"disclosures":[[d,…],…]}
//
// where disclosures[i] belongs to leaf F+i (empty for entries without
// disclosures). A batch file is written to a temp file, fsynced and
// renamed (and the directory fsynced) before the log append that makes
// its leaves exist; so every logged leaf has its payload. A file whose
// leaves the log does not reach is from an append that never committed:
// [OpenPayloads] removes it.
type Payloads struct {
	dir string

	mu     sync.Mutex
	starts []uint64          // sorted first leaves of the files
	counts map[uint64]uint64 // first → n
	cache  struct {
		first uint64
		ds    [][]string
	}
}

type payloadFile struct {
	First       uint64     `json:"first"`
	Disclosures [][]string `json:"disclosures"`
}

// OpenPayloads opens (creating) the payload store in dir for a log of
// size logSize, removing payloads of leaves at or past logSize.
func OpenPayloads(dir string, logSize uint64) (*Payloads, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest: couldn't create payload dir: %w", err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ingest: couldn't list payload dir: %w", err)
	}
	p := &Payloads{dir: dir, counts: map[uint64]uint64{}}
	for _, de := range names {
		name := de.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		first, n, ok := parsePayloadName(name)
		if !ok {
			continue
		}
		if first+n > logSize {
			if first < logSize {
				return nil, fmt.Errorf("ingest: payload file %s straddles log size %d: payloads and log disagree", name, logSize)
			}
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("ingest: couldn't remove uncommitted payload %s: %w", name, err)
			}
			continue
		}
		p.starts = append(p.starts, first)
		p.counts[first] = n
	}
	slices.Sort(p.starts)
	return p, nil
}

func payloadName(first, n uint64) string { return fmt.Sprintf("%020d-%d.json", first, n) }

func parsePayloadName(name string) (first, n uint64, ok bool) {
	base, found := strings.CutSuffix(name, ".json")
	a, b, found2 := strings.Cut(base, "-")
	if !found || !found2 {
		return 0, 0, false
	}
	f, err1 := strconv.ParseUint(a, 10, 64)
	c, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || c == 0 {
		return 0, 0, false
	}
	return f, c, true
}

// Put durably stores the disclosures of leaves [first, first+len(ds)).
// It replaces a leftover file of the same range (from an append that did
// not commit).
func (p *Payloads) Put(first uint64, ds [][]string) error {
	if len(ds) == 0 {
		return nil
	}
	data, err := json.Marshal(payloadFile{First: first, Disclosures: ds})
	if err != nil {
		return fmt.Errorf("ingest: couldn't encode payloads: %w", err)
	}
	name := payloadName(first, uint64(len(ds)))
	tmp := filepath.Join(p.dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("ingest: couldn't create payload file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("ingest: couldn't write payload file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ingest: couldn't sync payload file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ingest: couldn't close payload file: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, name)); err != nil {
		return fmt.Errorf("ingest: couldn't publish payload file: %w", err)
	}
	d, err := os.Open(p.dir)
	if err != nil {
		return fmt.Errorf("ingest: couldn't open payload dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ingest: couldn't sync payload dir: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Drop any stale file index entry at or after first: the log is about
	// to be extended from first, so older uncommitted ranges are gone.
	for len(p.starts) > 0 && p.starts[len(p.starts)-1] >= first {
		last := p.starts[len(p.starts)-1]
		if old := payloadName(last, p.counts[last]); old != name {
			os.Remove(filepath.Join(p.dir, old))
		}
		delete(p.counts, last)
		p.starts = p.starts[:len(p.starts)-1]
	}
	p.starts = append(p.starts, first)
	p.counts[first] = uint64(len(ds))
	if p.cache.first == first {
		p.cache.ds = nil
	}
	return nil
}

// Get returns the disclosures stored for leaf (nil if the entry had none).
func (p *Payloads) Get(leaf uint64) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, found := slices.BinarySearch(p.starts, leaf)
	if !found {
		i--
	}
	if i < 0 {
		return nil, fmt.Errorf("ingest: no payload for leaf %d", leaf)
	}
	first := p.starts[i]
	n := p.counts[first]
	if leaf >= first+n {
		return nil, fmt.Errorf("ingest: no payload for leaf %d", leaf)
	}
	if p.cache.ds == nil || p.cache.first != first {
		data, err := os.ReadFile(filepath.Join(p.dir, payloadName(first, n)))
		if err != nil {
			return nil, fmt.Errorf("ingest: couldn't read payload for leaf %d: %w", leaf, err)
		}
		var pf payloadFile
		if err := json.Unmarshal(data, &pf); err != nil || pf.First != first || uint64(len(pf.Disclosures)) != n {
			return nil, fmt.Errorf("ingest: corrupt payload file %s", payloadName(first, n))
		}
		p.cache.first, p.cache.ds = first, pf.Disclosures
	}
	return p.cache.ds[leaf-first], nil
}
