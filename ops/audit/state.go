package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/internal/atomicfile"
	"github.com/crossledger/crossledger/merkle"
)

// StateFile is the name of the state file in the state directory.
const StateFile = "audit-state.json"

const (
	stateVersion = 1
	// maxStateSize bounds the state file read back.
	maxStateSize = 256 << 20
	// MaxProblems bounds the problems a state keeps (the count goes on).
	MaxProblems = 10000
)

// State is what an audit keeps between runs (see the package doc): JSON,
// replaced atomically. Byte slices are base64.
type State struct {
	Version int `json:"version"`
	// Log is the log key's name and hash ("<origin>+<hash hex>"): a state
	// belongs to one log.
	Log string `json:"log"`
	// Verified is the last checkpoint whose root the audit recomputed
	// from its entries.
	Verified []byte `json:"verified,omitempty"`
	// Latest is the largest checkpoint the audit verified as extending
	// Verified (by a consistency proof); LatestRange is its compact range.
	Latest      []byte   `json:"latest,omitempty"`
	LatestRange [][]byte `json:"latest_range,omitempty"`
	// Size, Range and Edge are the recomputed tree: its size (Verified ≤
	// Size ≤ Latest), compact range and right-edge partial tiles.
	Size  uint64             `json:"size"`
	Range [][]byte           `json:"range,omitempty"`
	Edge  [tileLevels][]byte `json:"edge"`
	// Departments counts the entries before Size by signer.
	Departments map[string]*Department `json:"departments,omitempty"`
	Undecodable uint64                 `json:"undecodable,omitempty"`
	// Replay holds the department.key and schema entries applied.
	Replay []Replayed `json:"replay,omitempty"`
	// Problems found before Size (the first MaxProblems); ProblemCount
	// counts them all.
	Problems     []Problem `json:"problems,omitempty"`
	ProblemCount uint64    `json:"problem_count,omitempty"`
}

// logID names a log key for the state.
func logID(v note.Verifier) string { return fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash()) }

// loaded is a State checked and opened.
type loaded struct {
	st               *State
	verified, latest *merkle.Checkpoint
	latestRange      *edge // only its compact range is used
	tree             *edge
}

// decodeState parses and checks a state file's bytes against the log key.
// It is what a state file read back goes through: a state that does not
// hold together is refused, never repaired.
func decodeState(b []byte, v note.Verifier) (*loaded, error) {
	var st State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("not an audit state: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not an audit state: trailing data")
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("state version %d, want %d", st.Version, stateVersion)
	}
	if st.Log != logID(v) {
		return nil, fmt.Errorf("the state is for log key %s, not %s", st.Log, logID(v))
	}
	l := &loaded{st: &st}
	open := func(what string, signed []byte) (*merkle.Checkpoint, error) {
		if signed == nil {
			return nil, nil
		}
		c, _, err := merkle.ParseCheckpoint(signed, v)
		if err != nil {
			return nil, fmt.Errorf("%s checkpoint: %w", what, err)
		}
		return &c, nil
	}
	var err error
	if l.verified, err = open("verified", st.Verified); err != nil {
		return nil, err
	}
	if l.latest, err = open("latest", st.Latest); err != nil {
		return nil, err
	}
	if l.verified != nil && l.latest == nil {
		return nil, errors.New("state has a verified checkpoint but no latest one")
	}
	verifiedSize, latestSize := uint64(0), uint64(0)
	if l.verified != nil {
		verifiedSize = l.verified.Size
	}
	if l.latest != nil {
		latestSize = l.latest.Size
	}
	if verifiedSize > st.Size || st.Size > latestSize {
		return nil, fmt.Errorf("state position %d is outside [verified %d, latest %d]", st.Size, verifiedSize, latestSize)
	}
	if l.latestRange, err = restoreEdge(latestSize, st.LatestRange, edgeFor(latestSize)); err != nil {
		return nil, fmt.Errorf("latest range: %w", err)
	}
	if l.latest != nil && !bytes.Equal(l.latestRange.root(), l.latest.Hash) {
		return nil, errors.New("latest range does not hash to the latest checkpoint")
	}
	if l.tree, err = restoreEdge(st.Size, st.Range, st.Edge); err != nil {
		return nil, fmt.Errorf("tree: %w", err)
	}
	if l.verified != nil && st.Size == l.verified.Size && !bytes.Equal(l.tree.root(), l.verified.Hash) {
		return nil, errors.New("tree does not hash to the verified checkpoint")
	}
	if len(st.Problems) > MaxProblems || uint64(len(st.Problems)) > st.ProblemCount {
		return nil, errors.New("state problem list is inconsistent")
	}
	for d, s := range st.Departments {
		if s == nil || s.Kinds == nil {
			return nil, fmt.Errorf("department %q has no counts", d)
		}
	}
	for i, r := range st.Replay {
		if r.Index >= st.Size || (i > 0 && r.Index <= st.Replay[i-1].Index) {
			return nil, errors.New("replayed entries out of order or past the position")
		}
	}
	return l, nil
}

// edgeFor is an empty right edge of the right shape for size (the latest
// range is kept without its tiles).
func edgeFor(size uint64) [tileLevels][]byte {
	var t [tileLevels][]byte
	for l := range tileLevels {
		t[l] = make([]byte, edgeWidth(size, uint64(l))*hashSize)
	}
	return t
}

// readState reads the state file of dir; a missing file is a fresh
// state (nil).
func readState(dir string, v note.Verifier) (*loaded, error) {
	name := filepath.Join(dir, StateFile)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't open audit state: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't read audit state: %w", err)
	}
	if len(b) > maxStateSize {
		return nil, fmt.Errorf("audit state %s is larger than %d bytes", name, maxStateSize)
	}
	l, err := decodeState(b, v)
	if err != nil {
		return nil, fmt.Errorf("audit state %s: %w (move it away to start over)", name, err)
	}
	return l, nil
}

// writeState replaces the state file of dir atomically.
func writeState(dir string, st *State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("couldn't encode audit state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("couldn't create state directory: %w", err)
	}
	if err := atomicfile.Replace(filepath.Join(dir, StateFile), b, 0o644); err != nil {
		return fmt.Errorf("couldn't write audit state: %w", err)
	}
	return nil
}
