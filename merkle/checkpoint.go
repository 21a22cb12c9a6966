package merkle

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is the body of a C2SP tlog-checkpoint:
//
//	<origin>\n
//	<decimal tree size>\n
//	<base64 root hash>\n
//	[extension lines]\n
//
// The log signs it as a signed note with its Ed25519 key, whose key name is
// the origin.
type Checkpoint struct {
	Origin     string
	Size       uint64
	Hash       []byte   // 32-byte root hash
	Extensions []string // optional extension lines; this log writes none
}

// Marshal returns the note text of the checkpoint.
func (c Checkpoint) Marshal() []byte {
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// ParseCheckpointText parses an unsigned checkpoint body strictly: an origin
// without control characters, a decimal size without sign or leading zeroes,
// a standard-base64 32-byte hash, then optional non-empty extension lines.
func ParseCheckpointText(text string) (Checkpoint, error) {
	body, ok := strings.CutSuffix(text, "\n")
	if !ok {
		return Checkpoint{}, errors.New("merkle: checkpoint does not end in a newline")
	}
	lines := strings.Split(body, "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("merkle: checkpoint has %d lines, want at least 3", len(lines))
	}
	var c Checkpoint
	c.Origin = lines[0]
	if c.Origin == "" || strings.ContainsFunc(c.Origin, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Checkpoint{}, fmt.Errorf("merkle: checkpoint origin %q is empty or has control characters", c.Origin)
	}
	size, err := parseDecimal(lines[1])
	if err != nil {
		return Checkpoint{}, fmt.Errorf("merkle: checkpoint size: %w", err)
	}
	c.Size = size
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != HashSize {
		return Checkpoint{}, fmt.Errorf("merkle: checkpoint root hash %q is not base64 of %d bytes", lines[2], HashSize)
	}
	c.Hash = h
	for i, e := range lines[3:] {
		if e == "" {
			return Checkpoint{}, fmt.Errorf("merkle: checkpoint extension line %d is empty", i+1)
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// parseDecimal parses a canonical ASCII decimal uint64: digits only, no
// leading zeroes except "0" itself.
func parseDecimal(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a canonical decimal number", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return n, nil
}

// ParseCheckpoint opens a signed checkpoint note, requires a valid signature
// by v, and requires the origin to equal v's key name (tlog-checkpoint: the
// log's key name is its origin). Other signatures (witness cosignatures) are
// allowed and ignored. The returned note gives access to them.
func ParseCheckpoint(signed []byte, v note.Verifier) (Checkpoint, *note.Note, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("merkle: couldn't verify checkpoint note: %w", err)
	}
	c, err := ParseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, nil, fmt.Errorf("merkle: checkpoint origin %q is not the key name %q", c.Origin, v.Name())
	}
	return c, n, nil
}

// GenerateKey makes a new Ed25519 log key pair in signed-note encoding with
// the origin as key name: skey ("PRIVATE+KEY+<origin>+<hash>+<key>") is
// secret, vkey ("<origin>+<hash>+<key>") is what auditors and witnesses pin.
// It backs `crossledger keygen`.
func GenerateKey(origin string) (skey, vkey string, err error) {
	return generateKey(rand.Reader, origin)
}

func generateKey(r io.Reader, origin string) (skey, vkey string, err error) {
	if _, err := (Checkpoint{Origin: origin}).validOrigin(); err != nil {
		return "", "", err
	}
	skey, vkey, err = note.GenerateKey(r, origin)
	if err != nil {
		return "", "", fmt.Errorf("merkle: couldn't generate log key: %w", err)
	}
	return skey, vkey, nil
}

func (c Checkpoint) validOrigin() (string, error) {
	if c.Origin == "" || strings.ContainsAny(c.Origin, "+ \t\n\r") ||
		strings.ContainsFunc(c.Origin, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("merkle: origin %q must be non-empty, without spaces, '+' or control characters", c.Origin)
	}
	return c.Origin, nil
}

// NewSigner parses a signer key from [GenerateKey] and returns the note
// signer with its matching verifier (derived from the private key, so the two
// cannot disagree).
func NewSigner(skey string) (note.Signer, note.Verifier, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, nil, fmt.Errorf("merkle: couldn't parse log signer key: %w", err)
	}
	parts := strings.SplitN(skey, "+", 5)
	seed, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(seed) != 1+ed25519.SeedSize {
		return nil, nil, errors.New("merkle: log signer key is not Ed25519")
	}
	pub := ed25519.NewKeyFromSeed(seed[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, nil, fmt.Errorf("merkle: couldn't derive verifier key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, fmt.Errorf("merkle: couldn't derive verifier: %w", err)
	}
	return s, v, nil
}

// VerifierKey returns the encoded verifier key ("<origin>+<hash>+<key>") for
// a signer key.
func VerifierKey(skey string) (string, error) {
	s, _, err := NewSigner(skey)
	if err != nil {
		return "", err
	}
	parts := strings.SplitN(skey, "+", 5)
	seed, _ := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	return note.NewEd25519VerifierKey(s.Name(), ed25519.NewKeyFromSeed(seed[1:]).Public().(ed25519.PublicKey))
}

func signCheckpoint(s note.Signer, c Checkpoint) ([]byte, error) {
	signed, err := note.Sign(&note.Note{Text: string(c.Marshal())}, s)
	if err != nil {
		return nil, fmt.Errorf("merkle: couldn't sign checkpoint: %w", err)
	}
	return signed, nil
}
