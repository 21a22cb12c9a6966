package ingest

import (
	"fmt"
	"runtime"
	"time"

	"github.com/crossledger/crossledger/internal/bytesize"
	"github.com/crossledger/crossledger/internal/topics"
)

// Default topic names (defined in internal/topics, which the SDK shares).
const (
	TopicChanges  = topics.Changes
	TopicAccess   = topics.Access
	TopicReceipts = topics.Receipts
	TopicRejected = topics.Rejected
)

// Config configures an [Ingester]. Zero fields take the defaults that
// [Config.SetDefaults] documents.
//
// It is also the ingest section of the YAML configuration (ops/config),
// decoded through its yaml tags; the fields tagged "-" are the Kafka
// cluster's and come from the kafka section.
type Config struct {
	// Brokers are the Kafka bootstrap addresses (host:port). Required.
	Brokers []string `yaml:"-"`

	// ChangesTopic and AccessTopic are consumed; ReceiptsTopic and
	// RejectedTopic are produced to. Defaults: crossledger.changes,
	// crossledger.access, crossledger.receipts, crossledger.rejected.
	ChangesTopic  string `yaml:"-"`
	AccessTopic   string `yaml:"-"`
	ReceiptsTopic string `yaml:"-"`
	RejectedTopic string `yaml:"-"`

	// TopicPartitions and ReplicationFactor are used when ingest creates a
	// missing topic. Defaults 6 and 1.
	TopicPartitions   int `yaml:"-"`
	ReplicationFactor int `yaml:"-"`

	// PayloadDir is the private payload store (disclosures by leaf). It
	// must not be served; keep it beside the log directory, not inside
	// it. Required.
	PayloadDir string `yaml:"payload_dir"`

	// BatchSize is the most messages in one batch (one log append).
	// Default 1000; at most 100000.
	BatchSize int `yaml:"batch_size"`
	// BatchAge is how long the first message of a batch waits for more
	// before the batch is processed. Default 20ms.
	BatchAge time.Duration `yaml:"batch_age"`

	// MaxPending bounds, per department, the messages held because their
	// seq is ahead of the next expected one. Past it, further early
	// messages are dropped unanswered (the sender's outbox re-sends
	// them). Default 1024.
	MaxPending int `yaml:"max_pending"`

	// Verifiers is how many goroutines check a batch's signatures.
	// Default (or 0 in the YAML file): one per CPU.
	Verifiers int `yaml:"verifiers"`

	// FetchMaxWait bounds how long a partition reader waits for new data
	// before polling again. Default 250ms.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`

	// MaxProjectionLag is how many entries the projection may be behind
	// the log before ingest pauses (see [ErrPushback]): it takes no new
	// batch until the lag is back at or below it. It only applies when
	// [Deps.Projection] is set. Default 100000.
	MaxProjectionLag uint64 `yaml:"max_projection_lag"`
	// MinFreeDisk is the free space, in bytes, that the file system of
	// PayloadDir must keep; below it ingest pauses (see [ErrPushback])
	// until space is freed. Keep the log on the same file system, or
	// watch its space separately. In the YAML file a size ("1GiB",
	// "500 MB"). Default 1 GiB.
	MinFreeDisk bytesize.Size `yaml:"min_free_disk"`

	// MaxUnwitnessed is how many committed entries may wait for the
	// witnesses' cosignatures (with a witness policy) before ingest pauses
	// (see [ErrPushback]); it also pauses as soon as a cosigning round
	// fails to meet the quorum with entries waiting. Receipts of waiting
	// entries are sent once a cosigned checkpoint covers them. Default
	// 10000.
	MaxUnwitnessed uint64 `yaml:"max_unwitnessed"`
}

// SetDefaults fills zero fields with their defaults.
func (c *Config) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.ChangesTopic, TopicChanges)
	def(&c.AccessTopic, TopicAccess)
	def(&c.ReceiptsTopic, TopicReceipts)
	def(&c.RejectedTopic, TopicRejected)
	if c.TopicPartitions == 0 {
		c.TopicPartitions = 6
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchAge == 0 {
		c.BatchAge = 20 * time.Millisecond
	}
	if c.MaxPending == 0 {
		c.MaxPending = 1024
	}
	if c.Verifiers == 0 {
		c.Verifiers = runtime.NumCPU()
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = 250 * time.Millisecond
	}
	if c.MaxProjectionLag == 0 {
		c.MaxProjectionLag = 100000
	}
	if c.MinFreeDisk == 0 {
		c.MinFreeDisk = 1 << 30
	}
	if c.MaxUnwitnessed == 0 {
		c.MaxUnwitnessed = 10000
	}
}

// FieldError is a problem with one field of a [Config]; Field is the
// field's YAML name (the configuration file reports it with its line).
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "ingest: " + e.Field + ": " + e.Reason }

// Validate reports the first problem with c (after defaults): a missing
// broker or payload directory, then [Config.ValidateTunables].
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return &FieldError{"brokers", "no brokers configured"}
	case c.PayloadDir == "":
		return &FieldError{"payload_dir", "is required"}
	case c.TopicPartitions < 1 || c.ReplicationFactor < 1:
		return &FieldError{"topic_partitions", "topic_partitions and replication_factor must be ≥ 1"}
	}
	names := map[string]bool{}
	for _, t := range []string{c.ChangesTopic, c.AccessTopic, c.ReceiptsTopic, c.RejectedTopic} {
		if names[t] {
			return &FieldError{"topics", fmt.Sprintf("topic %q configured twice", t)}
		}
		names[t] = true
	}
	return c.ValidateTunables()
}

// ValidateTunables reports the first out-of-range tunable (after
// defaults), as a [*FieldError].
func (c *Config) ValidateTunables() error {
	switch {
	case c.BatchSize < 1 || c.BatchSize > 100000:
		return &FieldError{"batch_size", fmt.Sprintf("must be in [1, 100000], got %d", c.BatchSize)}
	case c.BatchAge < 0:
		return &FieldError{"batch_age", fmt.Sprintf("must not be negative, got %v", c.BatchAge)}
	case c.MaxPending < 0:
		return &FieldError{"max_pending", fmt.Sprintf("must not be negative, got %d", c.MaxPending)}
	case c.Verifiers < 1:
		return &FieldError{"verifiers", fmt.Sprintf("must be ≥ 1 (0: one per CPU), got %d", c.Verifiers)}
	case c.FetchMaxWait < 0:
		return &FieldError{"fetch_max_wait", fmt.Sprintf("must not be negative, got %v", c.FetchMaxWait)}
	}
	return nil
}
