package ingest

import (
	"context"

	"github.com/crossledger/crossledger/internal/topics"
)

// EnsureTopics creates each missing topic with partitions partitions and
// the given replication factor, through the cluster's controller. Topics
// that exist are left as they are.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replication int, names ...string) error {
	return topics.Ensure(ctx, brokers, partitions, replication, names...)
}

// Partitions returns the partition ids of topic, waiting (until ctx is
// done) for the topic to appear in the cluster metadata.
func Partitions(ctx context.Context, brokers []string, topic string) ([]int, error) {
	return topics.Partitions(ctx, brokers, topic)
}
