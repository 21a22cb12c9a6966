package ingest

import (
	"errors"
	"fmt"
	"runtime"
	"time"

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
type Config struct {
	// Brokers are the Kafka bootstrap addresses (host:port). Required.
	Brokers []string `yaml:"brokers"`

	// ChangesTopic and AccessTopic are consumed; ReceiptsTopic and
	// RejectedTopic are produced to. Defaults: crossledger.changes,
	// crossledger.access, crossledger.receipts, crossledger.rejected.
	ChangesTopic  string `yaml:"changes_topic"`
	AccessTopic   string `yaml:"access_topic"`
	ReceiptsTopic string `yaml:"receipts_topic"`
	RejectedTopic string `yaml:"rejected_topic"`

	// TopicPartitions and ReplicationFactor are used when ingest creates a
	// missing topic. Defaults 6 and 1.
	TopicPartitions   int `yaml:"topic_partitions"`
	ReplicationFactor int `yaml:"replication_factor"`

	// PayloadDir is the private payload store (disclosures by leaf). It
	// must not be served; keep it beside the log directory, not inside
	// it. Required.
	PayloadDir string `yaml:"payload_dir"`

	// BatchSize is the most messages in one batch (one log append).
	// Default 1000.
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
	// Default runtime.NumCPU().
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
	// watch its space separately. Default 1 GiB.
	MinFreeDisk uint64 `yaml:"min_free_disk"`
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
}

// Validate reports the first problem with c (after defaults).
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("ingest: no brokers configured")
	case c.PayloadDir == "":
		return errors.New("ingest: payload_dir is required")
	case c.BatchSize < 1 || c.BatchSize > 100000:
		return fmt.Errorf("ingest: batch_size %d outside [1, 100000]", c.BatchSize)
	case c.BatchAge < 0:
		return fmt.Errorf("ingest: negative batch_age %v", c.BatchAge)
	case c.MaxPending < 0:
		return fmt.Errorf("ingest: negative max_pending %d", c.MaxPending)
	case c.Verifiers < 1:
		return fmt.Errorf("ingest: verifiers %d must be ≥ 1", c.Verifiers)
	case c.TopicPartitions < 1 || c.ReplicationFactor < 1:
		return errors.New("ingest: topic_partitions and replication_factor must be ≥ 1")
	}
	names := map[string]bool{}
	for _, t := range []string{c.ChangesTopic, c.AccessTopic, c.ReceiptsTopic, c.RejectedTopic} {
		if names[t] {
			return fmt.Errorf("ingest: topic %q configured twice", t)
		}
		names[t] = true
	}
	return nil
}
