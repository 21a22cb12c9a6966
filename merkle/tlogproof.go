package merkle

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// ProofHeader is the first line of a C2SP tlog-proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// Proof is a C2SP tlog-proof: an offline-verifiable proof that an entry is
// in a log, handed out by the gateway with every disclosed record.
//
//	c2sp.org/tlog-proof@v1
//	extra <base64>            (optional, unauthenticated)
//	index <decimal>
//	<base64 hash>             (inclusion proof, leaf sibling first)
//	...
//	                          (empty line)
//	<signed checkpoint, verbatim, with any cosignatures>
type Proof struct {
	Extra      []byte // nil when absent; never trust it
	Index      uint64
	Hashes     [][]byte
	Checkpoint []byte // signed note
}

// Encode returns the text form of the proof.
func (p *Proof) Encode() []byte {
	var b bytes.Buffer
	b.WriteString(ProofHeader + "\n")
	if p.Extra != nil {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	b.WriteString("index " + strconv.FormatUint(p.Index, 10) + "\n")
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// inclusionProofLen is the length of an RFC 6962 inclusion proof of index
// in a tree of size size (index < size).
func inclusionProofLen(index, size uint64) int {
	inner := bits.Len64(index ^ (size - 1))
	return inner + bits.OnesCount64(index>>inner)
}

// DecodeProof parses a tlog-proof strictly: exact header, optional
// non-empty extra, canonical decimal index, 32-byte standard-base64 hashes,
// an empty line, and a checkpoint whose text parses, whose size exceeds the
// index, and for which the number of hashes is exactly what an inclusion
// proof needs. The checkpoint signature is not checked here; see
// [Proof.Verify].
func DecodeProof(b []byte) (*Proof, error) {
	head, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		return nil, errors.New("merkle: tlog-proof has no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != ProofHeader {
		return nil, fmt.Errorf("merkle: tlog-proof header is %q, want %q", lines[0], ProofHeader)
	}
	lines = lines[1:]
	p := &Proof{Checkpoint: cp}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		e, err := base64.StdEncoding.Strict().DecodeString(lines[0][len("extra "):])
		if err != nil || len(e) == 0 {
			return nil, fmt.Errorf("merkle: tlog-proof extra line is not non-empty base64")
		}
		p.Extra = e
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return nil, errors.New("merkle: tlog-proof lacks its index line")
	}
	idx, err := parseDecimal(lines[0][len("index "):])
	if err != nil {
		return nil, fmt.Errorf("merkle: tlog-proof index: %w", err)
	}
	p.Index = idx
	if len(lines)-1 > 64 {
		return nil, fmt.Errorf("merkle: tlog-proof has %d hashes, a proof has at most 64", len(lines)-1)
	}
	for i, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != HashSize {
			return nil, fmt.Errorf("merkle: tlog-proof hash %d is not base64 of %d bytes", i, HashSize)
		}
		p.Hashes = append(p.Hashes, h)
	}
	c, err := checkpointBody(cp)
	if err != nil {
		return nil, fmt.Errorf("merkle: tlog-proof checkpoint: %w", err)
	}
	if p.Index >= c.Size {
		return nil, fmt.Errorf("merkle: tlog-proof index %d is outside tree size %d", p.Index, c.Size)
	}
	if want := inclusionProofLen(p.Index, c.Size); len(p.Hashes) != want {
		return nil, fmt.Errorf("merkle: tlog-proof has %d hashes, index %d in tree size %d needs %d", len(p.Hashes), p.Index, c.Size, want)
	}
	return p, nil
}

// Verify checks that entry (the logged bytes, hashed here as an RFC 6962
// leaf) is at p.Index in the tree of p.Checkpoint, and that the checkpoint
// is signed by v with origin v.Name(). It returns the verified checkpoint.
// Witness cosignatures are left to the caller's policy (the returned note
// from [ParseCheckpoint] on p.Checkpoint lists them).
func (p *Proof) Verify(entry []byte, v note.Verifier) (Checkpoint, error) {
	c, _, err := ParseCheckpoint(p.Checkpoint, v)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, c.Size, LeafHash(entry), p.Hashes, c.Hash); err != nil {
		return Checkpoint{}, fmt.Errorf("merkle: tlog-proof for index %d in tree size %d: %w", p.Index, c.Size, err)
	}
	return c, nil
}

// ProofBundle returns a tlog-proof of the entry at index against the
// published checkpoint ([Log.Checkpoint]); [ErrNotPublished] for an entry
// committed but not yet in it.
func (l *Log) ProofBundle(ctx context.Context, index uint64) (*Proof, error) {
	pub := l.out.Load()
	if index >= pub.size || pub.checkpoint == nil {
		if index < l.Size() {
			return nil, fmt.Errorf("%w: index %d, published size %d", ErrNotPublished, index, pub.size)
		}
		return nil, fmt.Errorf("%w: index %d of tree size %d", ErrOutOfRange, index, pub.size)
	}
	hashes, err := l.InclusionProof(ctx, index, pub.size)
	if err != nil {
		return nil, err
	}
	return &Proof{Index: index, Hashes: hashes, Checkpoint: bytes.Clone(pub.checkpoint)}, nil
}
