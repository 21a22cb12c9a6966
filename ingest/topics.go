package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopics creates each missing topic with partitions partitions and
// the given replication factor, through the cluster's controller. Topics
// that exist are left as they are.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replication int, topics ...string) error {
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("ingest: couldn't dial broker %s: %w", brokers[0], err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("ingest: couldn't find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("ingest: couldn't dial controller: %w", err)
	}
	defer cc.Close()
	cfgs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		cfgs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication}
	}
	if err := cc.CreateTopics(cfgs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("ingest: couldn't create topics %v: %w", topics, err)
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
			return nil, fmt.Errorf("ingest: couldn't read partitions of %s: %w (last error: %v)", topic, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
