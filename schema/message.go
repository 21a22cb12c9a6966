package schema

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxMessageSize bounds a [Message] on the wire: one envelope of at most
// [MaxEntrySize] bytes plus its disclosures.
const MaxMessageSize = 1 << 20

// ErrReplay: a seq below the department's next expected seq that matches
// no logged entry of that department (it was never logged, so it can
// never be: seqs are strictly increasing). Ingest rejects it.
var ErrReplay = errors.New("replayed seq: below the next expected seq")

// Message is the Kafka value of one published envelope (see the package
// documentation for the wire form).
type Message struct {
	// Envelope is the canonical signed envelope, byte for byte.
	Envelope json.RawMessage `json:"envelope"`
	// Disclosures open the digests of a record change (all of them, for
	// an upsert); empty for other kinds.
	Disclosures []string `json:"disclosures,omitempty"`
}

// Encode returns the wire form of m: its canonical JSON,
// {"disclosures":[…],"envelope":{…}}, without "disclosures" when there
// are none. The envelope is copied verbatim and must be canonical JSON
// itself, as [Envelope.Canonical] produces ([ErrMalformed] or
// [ErrNotCanonical] if not).
func (m *Message) Encode() ([]byte, error) {
	size := len(m.Envelope) + 32
	for _, d := range m.Disclosures {
		size += len(d) + 3
	}
	buf, err := encode(make([]byte, 0, size), m, messageMembers)
	if err != nil {
		return nil, err
	}
	if len(buf) > MaxMessageSize {
		return nil, entryErr(ErrTooLarge, "", "message is %d bytes, limit %d", len(buf), MaxMessageSize)
	}
	return buf, nil
}

// NewMessage encodes a signed envelope and its disclosures as a [Message].
func NewMessage(env *Envelope, ds []Disclosure) (*Message, error) {
	canon, err := env.Canonical()
	if err != nil {
		return nil, err
	}
	m := &Message{Envelope: canon}
	for _, d := range ds {
		m.Disclosures = append(m.Disclosures, d.Encoded)
	}
	return m, nil
}

// DecodeMessage parses a Kafka value strictly: it accepts exactly the
// bytes [Message.Encode] writes. Anything else is rejected with an
// [*EntryError]:
//
//   - longer than [MaxMessageSize]: [ErrTooLarge];
//   - not UTF-8 JSON, trailing data, unknown or duplicate keys (also
//     inside the envelope), "envelope" missing, null or not an object,
//     "disclosures" not an array of strings: [ErrMalformed];
//   - JSON of the message's shape that is not its canonical encoding
//     (member order, a key in another case, whitespace, escapes, null,
//     "disclosures":[], an envelope that is not canonical JSON itself):
//     [ErrNotCanonical].
//
// It does not decode the envelope itself: see [DecodeEnvelope], which
// enforces its size, its members and their rules.
func DecodeMessage(b []byte) (*Message, error) {
	m, r, err := readWire(b, MaxMessageSize, "message", messageMembers)
	if err != nil {
		return nil, err
	}
	if err := r.result(); err != nil {
		return nil, err
	}
	return m, nil
}

// EnvelopeDigest names a logged envelope: base64url (no padding) of the
// SHA-256 of its canonical bytes. Receipts and the projection store use it.
func EnvelopeDigest(envelope []byte) string {
	sum := sha256.Sum256(envelope)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ReceiptStatus is the outcome of one published message.
type ReceiptStatus string

const (
	// StatusAccepted: the envelope was logged by this delivery.
	StatusAccepted ReceiptStatus = "accepted"
	// StatusDuplicate: the same envelope (same seq, same bytes) was logged
	// before; the receipt is the original one with a fresh proof.
	StatusDuplicate ReceiptStatus = "duplicate"
	// StatusRejected: the envelope was not logged and never will be under
	// this seq; Reason says why.
	StatusRejected ReceiptStatus = "rejected"
)

// Machine-readable rejection reasons, as [ReasonOf] names them.
const (
	ReasonBadSignature       = "bad-signature"
	ReasonUnknownKey         = "unknown-key"
	ReasonSchema             = "schema"
	ReasonDisclosureMismatch = "disclosure-mismatch"
	ReasonEquivocation       = "equivocation"
	ReasonReplay             = "replay"
	ReasonTooLarge           = "too-large"
	ReasonMalformed          = "malformed"
	ReasonNotCanonical       = "not-canonical"
	ReasonDuplicate          = "duplicate"
	ReasonInternal           = "internal"
)

// Receipt is ingest's answer to one [Message].
type Receipt struct {
	Department string        `json:"department"`       // the signer, or the message key when the envelope is unreadable
	Seq        uint64        `json:"seq,omitempty"`    // 0 when the envelope is unreadable
	Status     ReceiptStatus `json:"status"`           // accepted | duplicate | rejected
	Reason     string        `json:"reason,omitempty"` // rejections: see the Reason constants
	Detail     string        `json:"detail,omitempty"` // rejections: human-readable error
	Leaf       uint64        `json:"leaf"`             // accepted, duplicate: the entry's index
	// EnvelopeDigest is [EnvelopeDigest] of the envelope bytes as received
	// (also for rejections, when the message had an envelope), so the
	// sender can match a receipt to what it sent.
	EnvelopeDigest string `json:"envelope_digest,omitempty"`
	// Proof is a C2SP tlog-proof of the envelope at Leaf (accepted,
	// duplicate).
	Proof string `json:"proof,omitempty"`
}

// Encode returns the canonical JSON form of r. A receipt echoes outside
// input (the message key names the department of an unreadable message),
// so strings that are not valid UTF-8 are written with U+FFFD for the bad
// bytes rather than refused.
func (r *Receipt) Encode() ([]byte, error) {
	c := *r
	for _, s := range []*string{&c.Department, &c.Reason, &c.Detail, &c.EnvelopeDigest, &c.Proof} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	c.Status = ReceiptStatus(strings.ToValidUTF8(string(c.Status), "\uFFFD"))
	return encode(make([]byte, 0, 256+len(c.Detail)+len(c.Proof)), &c, receiptMembers)
}

// DecodeReceipt parses a receipt as strictly as [DecodeMessage] parses a
// message: canonical JSON of the receipt's members only, as
// [Receipt.Encode] writes it, no duplicate keys, no trailing data
// ([ErrMalformed], or [ErrNotCanonical] for a receipt of the right shape
// in another spelling), and a known status with what it requires
// ([ErrMalformed]). It does not verify the proof.
func DecodeReceipt(b []byte) (*Receipt, error) {
	rc, r, err := readWire(b, MaxMessageSize, "receipt", receiptMembers)
	if err != nil {
		return nil, err
	}
	switch rc.Status {
	case StatusAccepted, StatusDuplicate:
		if rc.Proof == "" || rc.EnvelopeDigest == "" {
			return nil, entryErr(ErrMalformed, "proof", "a %s receipt needs a proof and an envelope digest", rc.Status)
		}
	case StatusRejected:
		if rc.Reason == "" {
			return nil, entryErr(ErrMalformed, "reason", "a rejection needs a reason")
		}
	default:
		return nil, entryErr(ErrMalformed, "status", "unknown status %q", rc.Status)
	}
	if err := r.result(); err != nil {
		return nil, err
	}
	return rc, nil
}

// ReasonOf maps an error to its machine-readable rejection reason. The
// more specific sentinels win: a disclosure that fails to parse is
// malformed, one that parses but opens no digest is a mismatch.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ReasonInternal
}

// reasons maps sentinels to reasons, the more specific first.
var reasons = []struct {
	err    error
	reason string
}{
	{ErrTooLarge, ReasonTooLarge},
	{ErrEquivocation, ReasonEquivocation},
	{ErrReplay, ReasonReplay},
	{ErrDuplicate, ReasonDuplicate},
	{ErrUnknownKey, ReasonUnknownKey},
	{ErrBadSignature, ReasonBadSignature},
	{ErrDisclosureMismatch, ReasonDisclosureMismatch},
	{ErrSchema, ReasonSchema},
	{ErrValue, ReasonSchema},
	{ErrNotCanonical, ReasonNotCanonical},
	{ErrMalformed, ReasonMalformed},
}

// String makes a receipt readable in logs and test failures.
func (r *Receipt) String() string {
	if r.Status == StatusRejected {
		return fmt.Sprintf("%s seq %d rejected (%s): %s", r.Department, r.Seq, r.Reason, r.Detail)
	}
	return fmt.Sprintf("%s seq %d %s at leaf %d", r.Department, r.Seq, r.Status, r.Leaf)
}
