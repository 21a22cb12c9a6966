// Package topics creates and inspects crossledger's Kafka topics. Both the
// ledger side (ingest) and the department side (adapters) need it, and
// neither should import the other.
package topics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// The default topic names: the one place they are spelled.
const (
	Changes  = "crossledger.changes"  // department changes, consumed by ingest
	Access   = "crossledger.access"   // the gateway's access entries, consumed by ingest
	Receipts = "crossledger.receipts" // ingest's receipts, read by the SDK
	Rejected = "crossledger.rejected" // rejected messages, for operators
)

// Ensure creates each missing topic with partitions partitions and
// the given replication factor, through the cluster's controller. Topics
// that exist are left as they are.
func Ensure(ctx context.Context, brokers []string, partitions, replication int, topics ...string) error {
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("topics: couldn't dial broker %s: %w", brokers[0], err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("topics: couldn't find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("topics: couldn't dial controller: %w", err)
	}
	defer cc.Close()
	cfgs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		cfgs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication}
	}
	if err := cc.CreateTopics(cfgs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("topics: couldn't create topics %v: %w", topics, err)
	}
	return nil
}

// Partitions returns the partition ids of topic, waiting (until ctx is
// done) for the topic to appear in the cluster metadata.
func Partitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	var d kafka.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", brokers[0])
		if err == nil {
			ps, perr := conn.ReadPartitions(topic)
			conn.Close()
			if perr == nil && len(ps) > 0 {
				ids := make([]int, len(ps))
				for i, p := range ps {
					ids[i] = p.ID
				}
				return ids, nil
			}
			err = perr
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("topics: couldn't read partitions of %s: %w (last error: %v)", topic, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// MaxBatchBytes bounds one produce batch of a [NewWriter] writer: below
// the brokers' default message.max.bytes (1 MiB), with room for a 64 KiB
// entry and the batch's own overhead.
const MaxBatchBytes = 768 << 10

// NewWriter returns a producer for brokers that waits for all in-sync
// replicas (acks=all) and partitions by message key, so one department's
// messages stay in order on one partition. topic may be "" when every
// message names its own.
//
// One write is split into produce batches of at most MaxBatchBytes: a
// broker refuses a batch larger than its message.max.bytes (1 MiB by
// default, in Apache Kafka and in kfake), and a write of 1000 receipts
// with their proofs, or of 1000 changes, is several MiB.
//
// Each writer gets a transport of its own: kafka-go's shared default
// caches topic metadata process-wide for 6 s, so a writer used just after
// its topic was created would see "unknown topic" until that cache aged.
func NewWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		BatchSize: 1000, BatchBytes: MaxBatchBytes,
		Transport: &kafka.Transport{MetadataTTL: 2 * time.Second},
	}
}

// ReadPartition reads one partition of topic from offset (or
// kafka.FirstOffset) and calls fn for each message, in order, until ctx is
// done (then it returns nil) or reading or fn fails. There is no consumer
// group: the caller owns the offsets, e.g. in the log state, and resumes
// from them.
func ReadPartition(ctx context.Context, brokers []string, topic string, partition int, offset int64,
	maxWait time.Duration, fn func(kafka.Message) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: maxWait,
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return fmt.Errorf("topics: couldn't seek %s/%d to %d: %w", topic, partition, offset, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("topics: couldn't read %s/%d: %w", topic, partition, err)
		}
		if err := fn(m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
