package adapters

import (
	"crypto/ed25519"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

// ErrQueued: Publish stored the message durably in the outbox but could
// not send it now; the client re-sends it. Callers may treat it as success.
var ErrQueued = errors.New("adapters: queued in outbox, not sent yet")

// ErrClosed is returned by publishing calls on a closed [Publisher] or
// [Client].
var ErrClosed = errors.New("adapters: client closed")

// PublisherConfig configures a [Publisher]: everything needed to sign,
// number, store, send and retire envelopes, and nothing about records.
type PublisherConfig struct {
	// Department is the department id the publisher signs as. Required.
	Department string
	// Key is the department's current signing key. Required.
	Key ed25519.PrivateKey
	// LogVerifier verifies the log's checkpoints (merkle.NewSigner's
	// verifier, or note.NewVerifier of the log's public key). Required.
	LogVerifier note.Verifier
	// WitnessPolicy, if set, also requires every receipt's checkpoint to
	// carry cosignatures meeting this C2SP tlog-policy's quorum: a receipt
	// without them does not retire its outbox row (the change is re-sent
	// until a receipt with them comes).
	WitnessPolicy *witness.Policy

	// Brokers are the Kafka bootstrap addresses. Required.
	Brokers []string
	// ChangesTopic (default crossledger.changes) is published to;
	// ReceiptsTopic (default crossledger.receipts) is consumed.
	ChangesTopic  string
	ReceiptsTopic string

	// OutboxPath is the SQLite outbox file. Required.
	OutboxPath string

	// ResendAfter is how long a sent message waits for its receipt before
	// the first re-send; each further re-send doubles it, up to
	// MaxResendAfter. Defaults 5s and 2m.
	ResendAfter    time.Duration
	MaxResendAfter time.Duration

	// OnRejected, if set, is called (from the receipt consumer; don't
	// block) for every rejection of one of the publisher's messages.
	OnRejected func(Rejection)
	// OnAccepted, if set, is called (from the receipt consumer; don't
	// block) for every message whose receipt verified, after its outbox
	// row was retired.
	OnAccepted func(Accepted)

	// MaxBatch bounds how many envelopes one outbox transaction and one
	// Kafka write carry (group commit), and how many receipts are
	// settled together. Default 1000.
	MaxBatch int

	// Now is the clock for envelope times. Default time.Now.
	Now func() time.Time
	// Logger. Default: discard.
	Logger *slog.Logger
}

func (c *PublisherConfig) setDefaults() {
	if c.ChangesTopic == "" {
		c.ChangesTopic = topics.Changes
	}
	if c.ReceiptsTopic == "" {
		c.ReceiptsTopic = topics.Receipts
	}
	if c.ResendAfter == 0 {
		c.ResendAfter = 5 * time.Second
	}
	if c.MaxResendAfter == 0 {
		c.MaxResendAfter = 2 * time.Minute
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first problem with c.
func (c *PublisherConfig) Validate() error {
	switch {
	case c.Department == "":
		return errors.New("adapters: Department is required")
	case len(c.Key) != ed25519.PrivateKeySize:
		return errors.New("adapters: Key is not an Ed25519 private key")
	case c.LogVerifier == nil:
		return errors.New("adapters: LogVerifier is required")
	case len(c.Brokers) == 0:
		return errors.New("adapters: Brokers are required")
	case c.OutboxPath == "":
		return errors.New("adapters: OutboxPath is required")
	case c.ResendAfter < 0 || c.MaxResendAfter < c.ResendAfter:
		return errors.New("adapters: need 0 ≤ ResendAfter ≤ MaxResendAfter")
	case c.MaxBatch < 0:
		return errors.New("adapters: MaxBatch must be ≥ 0")
	}
	return nil
}

// Config configures a [Client]: a [PublisherConfig] plus what building
// record changes needs (RecordSecret, Catalog).
type Config struct {
	// RecordSecret keys record references (schema.RecordRef). Required,
	// ≥ 16 bytes; keep it stable for the department's lifetime.
	RecordSecret []byte
	// Catalog holds the department's record-type schemas. A department
	// that publishes no record changes may be absent from it, or Catalog
	// may be nil; Publish then fails (such a signer wants a [Publisher]).
	Catalog *schema.Catalog

	// The fields below configure the client's [Publisher]; each means
	// what the [PublisherConfig] field of the same name does (a test
	// keeps the two lists equal).

	Department, OutboxPath      string
	Key                         ed25519.PrivateKey
	LogVerifier                 note.Verifier
	WitnessPolicy               *witness.Policy
	Brokers                     []string
	ChangesTopic, ReceiptsTopic string
	ResendAfter, MaxResendAfter time.Duration
	OnRejected                  func(Rejection)
	OnAccepted                  func(Accepted)
	MaxBatch                    int
	Now                         func() time.Time
	Logger                      *slog.Logger
}

// publisher returns the publisher part of c.
func (c *Config) publisher() PublisherConfig {
	return PublisherConfig{
		Department: c.Department, Key: c.Key, LogVerifier: c.LogVerifier, WitnessPolicy: c.WitnessPolicy,
		Brokers: c.Brokers, ChangesTopic: c.ChangesTopic, ReceiptsTopic: c.ReceiptsTopic, OutboxPath: c.OutboxPath,
		ResendAfter: c.ResendAfter, MaxResendAfter: c.MaxResendAfter, OnRejected: c.OnRejected, OnAccepted: c.OnAccepted,
		MaxBatch: c.MaxBatch, Now: c.Now, Logger: c.Logger,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	pc := c.publisher()
	return c.validate(&pc)
}

// validate checks pc (c's publisher part, maybe with defaults), then
// what only records need.
func (c *Config) validate(pc *PublisherConfig) error {
	if err := pc.Validate(); err != nil {
		return err
	}
	if len(c.RecordSecret) < 16 {
		return errors.New("adapters: RecordSecret must be at least 16 bytes")
	}
	return nil
}

// Rejection is a message ingest refused.
type Rejection struct {
	Seq    uint64
	Reason string // machine-readable, see schema.ReasonOf
	Detail string
}

// Accepted is a message whose receipt verified: it is in the log at Leaf.
type Accepted struct {
	Seq  uint64
	Leaf uint64
	// Sent is when this process first sent the message; zero for a
	// message recovered from the outbox when it was (re)opened.
	Sent time.Time
}

// State is an outbox row's state.
type State string

const (
	StatePending  State = "pending"
	StateDone     State = "done"
	StateRejected State = "rejected"
)

// Status is what the outbox knows about one seq.
type Status struct {
	Seq      uint64
	State    State
	Leaf     uint64 // StateDone
	Reason   string // StateRejected
	Detail   string
	Attempts int
}
