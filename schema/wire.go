package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Wire formats
//
// A department publishes each signed envelope to Kafka (topic
// crossledger.changes, or crossledger.access for the gateway) as one
// [Message], keyed by the signing department:
//
//	{"envelope":<canonical envelope, verbatim>,"disclosures":["<disclosure>",…]}
//
// The envelope is embedded as raw JSON: its bytes inside the message are
// exactly the bytes that become the log entry and that the signature
// covers. Disclosures (see [Disclosure]) travel beside it and go to the
// private payload store, never to the log.
//
// Ingest answers every message with a [Receipt] on crossledger.receipts,
// keyed by department:
//
//	{"department":"tax","seq":7,"status":"accepted","leaf":1234,
//	 "envelope_digest":"<base64url SHA-256 of the envelope>",
//	 "proof":"c2sp.org/tlog-proof@v1\nindex 1234\n…"}
//	{"department":"tax","seq":8,"status":"rejected","reason":"bad-signature",
//	 "detail":"bad signature: tax seq 8 key …","envelope_digest":"…"}
//
// A receipt's proof is a C2SP tlog-proof of the envelope at Leaf against a
// signed checkpoint: the department verifies it with the log's public key
// and only then retires the message from its outbox.

// MaxMessageSize bounds a [Message] on the wire: one envelope of at most
// [MaxEntrySize] bytes plus its disclosures.
const MaxMessageSize = 1 << 20

// ErrReplay: a seq below the department's next expected seq that matches
// no logged entry of that department (it was never logged, so it can
// never be: seqs are strictly increasing). Ingest rejects it.
var ErrReplay = errors.New("replayed seq: below the next expected seq")

// Message is the Kafka value of one published envelope.
type Message struct {
	// Envelope is the canonical signed envelope, byte for byte.
	Envelope json.RawMessage `json:"envelope"`
	// Disclosures open the digests of a record change (all of them, for
	// an upsert); empty for other kinds.
	Disclosures []string `json:"disclosures,omitempty"`
}

// Encode returns the wire form of m. The envelope is copied verbatim; it
// must be a JSON object (as [Envelope.Canonical] produces).
func (m *Message) Encode() ([]byte, error) {
	if len(m.Envelope) == 0 || m.Envelope[0] != '{' || !json.Valid(m.Envelope) {
		return nil, entryErr(ErrMalformed, "envelope", "not a JSON object")
	}
	buf := make([]byte, 0, len(m.Envelope)+32+64*len(m.Disclosures))
	buf = append(buf, `{"envelope":`...)
	buf = append(buf, m.Envelope...)
	if len(m.Disclosures) > 0 {
		buf = append(buf, `,"disclosures":[`...)
		for i, d := range m.Disclosures {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, d)
		}
		buf = append(buf, ']')
	}
	buf = append(buf, '}')
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

// DecodeMessage parses a Kafka value strictly: at most [MaxMessageSize]
// bytes ([ErrTooLarge]); valid UTF-8 JSON, one object with exactly the
// known keys, no duplicate keys, no trailing data, an "envelope" that is
// a JSON object and "disclosures" (if present) an array of strings
// ([ErrMalformed]). It does not decode the envelope itself: see
// [DecodeEnvelope], which enforces its size and canonical form.
func DecodeMessage(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, entryErr(ErrTooLarge, "", "message is %d bytes, limit %d", len(b), MaxMessageSize)
	}
	if !utf8.Valid(b) {
		return nil, entryErr(ErrMalformed, "", "invalid UTF-8")
	}
	if err := checkMessageKeys(b); err != nil {
		return nil, err
	}
	m := new(Message)
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(m); err != nil {
		return nil, jsonErr(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, entryErr(ErrMalformed, "", "trailing data after the message")
	}
	if len(m.Envelope) == 0 || m.Envelope[0] != '{' {
		return nil, entryErr(ErrMalformed, "envelope", "missing or not a JSON object")
	}
	return m, nil
}

// checkMessageKeys rejects a top-level object with duplicate keys, which
// encoding/json would silently merge. Nested duplicates are
// [DecodeEnvelope]'s business.
func checkMessageKeys(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	t, err := d.Token()
	if err != nil {
		return jsonErr(err)
	}
	if t != json.Delim('{') {
		return entryErr(ErrMalformed, "", "message is not a JSON object")
	}
	seen := map[string]bool{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return jsonErr(err)
		}
		k, _ := t.(string)
		if seen[k] {
			return entryErr(ErrMalformed, k, "duplicate key")
		}
		seen[k] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return jsonErr(err)
		}
	}
	return nil
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

// Encode returns the JSON form of r.
func (r *Receipt) Encode() ([]byte, error) {
	return json.Marshal(r)
}

// DecodeReceipt parses a receipt strictly (unknown fields, trailing data,
// unknown status rejected). It does not verify the proof.
func DecodeReceipt(b []byte) (*Receipt, error) {
	if len(b) > MaxMessageSize {
		return nil, entryErr(ErrTooLarge, "", "receipt is %d bytes, limit %d", len(b), MaxMessageSize)
	}
	r := new(Receipt)
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(r); err != nil {
		return nil, jsonErr(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, entryErr(ErrMalformed, "", "trailing data after the receipt")
	}
	switch r.Status {
	case StatusAccepted, StatusDuplicate:
		if r.Proof == "" || r.EnvelopeDigest == "" {
			return nil, entryErr(ErrMalformed, "proof", "a %s receipt needs a proof and an envelope digest", r.Status)
		}
	case StatusRejected:
		if r.Reason == "" {
			return nil, entryErr(ErrMalformed, "reason", "a rejection needs a reason")
		}
	default:
		return nil, entryErr(ErrMalformed, "status", "unknown status %q", r.Status)
	}
	return r, nil
}

// ReasonOf maps an error to its machine-readable rejection reason. The
// more specific sentinels win: a disclosure that fails to parse is
// malformed, one that parses but opens no digest is a mismatch.
func ReasonOf(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, ErrEquivocation):
		return ReasonEquivocation
	case errors.Is(err, ErrReplay):
		return ReasonReplay
	case errors.Is(err, ErrDuplicate):
		return ReasonDuplicate
	case errors.Is(err, ErrUnknownKey):
		return ReasonUnknownKey
	case errors.Is(err, ErrBadSignature):
		return ReasonBadSignature
	case errors.Is(err, ErrDisclosureMismatch):
		return ReasonDisclosureMismatch
	case errors.Is(err, ErrSchema), errors.Is(err, ErrValue):
		return ReasonSchema
	case errors.Is(err, ErrNotCanonical):
		return ReasonNotCanonical
	case errors.Is(err, ErrMalformed):
		return ReasonMalformed
	}
	return ReasonInternal
}

// String makes a receipt readable in logs and test failures.
func (r *Receipt) String() string {
	if r.Status == StatusRejected {
		return fmt.Sprintf("%s seq %d rejected (%s): %s", r.Department, r.Seq, r.Reason, r.Detail)
	}
	return fmt.Sprintf("%s seq %d %s at leaf %d", r.Department, r.Seq, r.Status, r.Leaf)
}
