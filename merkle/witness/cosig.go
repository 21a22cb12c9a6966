package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// algCosignatureV1 is the signature type byte of C2SP tlog-cosignature
// Ed25519 cosignatures (the key id and the vkey carry it).
const algCosignatureV1 = 0x04

// cosigSize is a timestamped_signature: u64 timestamp ‖ 64-byte Ed25519.
const cosigSize = 8 + ed25519.SignatureSize

// cosignedMessage is the message a cosignature/v1 signs: the header line,
// the timestamp line, then the whole checkpoint body.
func cosignedMessage(t uint64, body []byte) []byte {
	msg := make([]byte, 0, 32+len(body))
	msg = append(msg, "cosignature/v1\ntime "...)
	msg = strconv.AppendUint(msg, t, 10)
	msg = append(msg, '\n')
	return append(msg, body...)
}

func keyHash(name string, pub []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// validName is the signed-note key name rule: non-empty, no spaces, no
// '+', printable.
func validName(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "+") {
		return false
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Signer makes C2SP tlog-cosignature/v1 Ed25519 cosignatures. It is a
// [note.Signer], so [note.Sign] appends its line to a checkpoint.
type Signer struct {
	name string
	hash uint32
	priv ed25519.PrivateKey
	now  func() time.Time
}

// NewSigner parses a witness signer key from [GenerateKey]:
// "PRIVATE+KEY+<name>+<hash>+base64(0x04 ‖ seed)".
func NewSigner(skey string) (*Signer, error) {
	skey = strings.TrimSpace(skey)
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	if !ok {
		return nil, errors.New("witness: signer key must start with PRIVATE+KEY+")
	}
	name, hash, key, err := splitKey(rest)
	if err != nil {
		return nil, fmt.Errorf("witness: signer key: %w", err)
	}
	if len(key) != 1+ed25519.SeedSize || key[0] != algCosignatureV1 {
		return nil, errors.New("witness: signer key is not an Ed25519 cosignature/v1 key (type 0x04)")
	}
	priv := ed25519.NewKeyFromSeed(key[1:])
	s := &Signer{name: name, hash: hash, priv: priv, now: time.Now}
	if want := keyHash(name, priv.Public().(ed25519.PublicKey)); want != hash {
		return nil, fmt.Errorf("witness: signer key hash %08x does not match its key (%08x)", hash, want)
	}
	return s, nil
}

// splitKey parses "<name>+<hex hash>+<base64 key>".
func splitKey(s string) (name string, hash uint32, key []byte, err error) {
	name, s, ok1 := strings.Cut(s, "+")
	hexHash, b64, ok2 := strings.Cut(s, "+")
	if !ok1 || !ok2 || !validName(name) || len(hexHash) != 8 {
		return "", 0, nil, errors.New("malformed key (want <name>+<8 hex digits>+<base64>)")
	}
	h, err := strconv.ParseUint(hexHash, 16, 32)
	if err != nil {
		return "", 0, nil, errors.New("malformed key hash")
	}
	key, err = base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return "", 0, nil, errors.New("malformed base64 key")
	}
	return name, uint32(h), key, nil
}

func (s *Signer) Name() string    { return s.name }
func (s *Signer) KeyHash() uint32 { return s.hash }

// Sign returns a timestamped_signature over msg, a checkpoint body, at the
// current time (seconds, never zero).
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	t := uint64(s.now().Unix())
	if t == 0 {
		return nil, errors.New("witness: clock reads the epoch; refusing a zero timestamp")
	}
	sig := make([]byte, 8, cosigSize)
	binary.BigEndian.PutUint64(sig, t)
	return append(sig, ed25519.Sign(s.priv, cosignedMessage(t, msg))...), nil
}

// VerifierKey is the signer's vkey, for the configs of those who verify it.
func (s *Signer) VerifierKey() string {
	return formatVKey(s.name, s.priv.Public().(ed25519.PublicKey))
}

func formatVKey(name string, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, pub), base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
}

// GenerateKey makes a witness key pair named name (a schema-less URL such
// as "civil-affairs.example/witness"): the signer key and its vkey.
func GenerateKey(name string) (skey, vkey string, err error) { return generateKey(rand.Reader, name) }

func generateKey(r io.Reader, name string) (skey, vkey string, err error) {
	if !validName(name) {
		return "", "", fmt.Errorf("witness: invalid key name %q (no spaces, no '+')", name)
	}
	pub, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return "", "", err
	}
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, keyHash(name, pub),
		base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, priv.Seed()...)))
	return skey, formatVKey(name, pub), nil
}

// Verifier checks cosignature/v1 lines of one witness. It is a
// [note.Verifier], so [note.Open] with a [note.VerifierList] of them
// reports which witnesses cosigned a checkpoint.
type Verifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// NewVerifier parses a witness vkey "<name>+<hash>+base64(0x04 ‖ key)".
func NewVerifier(vkey string) (*Verifier, error) {
	name, hash, key, err := splitKey(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("witness: verifier key %q: %w", vkey, err)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("witness: verifier key %q is not an Ed25519 cosignature/v1 key (type 0x04)", vkey)
	}
	pub := ed25519.PublicKey(key[1:])
	if want := keyHash(name, pub); want != hash {
		return nil, fmt.Errorf("witness: verifier key %q: hash %08x does not match its key (%08x)", vkey, hash, want)
	}
	return &Verifier{name: name, hash: hash, pub: pub}, nil
}

func (v *Verifier) Name() string    { return v.name }
func (v *Verifier) KeyHash() uint32 { return v.hash }

// Verify checks a timestamped_signature over msg, a checkpoint body.
func (v *Verifier) Verify(msg, sig []byte) bool {
	if len(sig) != cosigSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t == 0 || t > 1<<63-1 {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(t, msg), sig[8:])
}

// String is the vkey.
func (v *Verifier) String() string { return formatVKey(v.name, v.pub) }

// Timestamp returns when a cosignature line was made (seconds since the
// epoch), from its timestamped_signature.
func Timestamp(sig note.Signature) (time.Time, error) {
	b, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(b) != 4+cosigSize {
		return time.Time{}, errors.New("witness: not a cosignature/v1 signature")
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b[4:])), 0).UTC(), nil
}
