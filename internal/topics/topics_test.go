package topics_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/ops"
	"github.com/crossledger/crossledger/ops/testenv"
)

func broker(t *testing.T) string {
	t.Helper()
	if testenv.Required() {
		return testenv.Kafka(t)
	}
	b, err := ops.StartBroker(ops.BrokerConfig{Listen: "127.0.0.1:0", Partitions: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

func TestEnsureIsIdempotentAndPartitionsSeesIt(t *testing.T) {
	addr := broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("topics-test-%d", rand.Uint64())
	for range 2 {
		if err := topics.Ensure(ctx, []string{addr}, 4, 1, name); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
	}
	parts, err := topics.Partitions(ctx, []string{addr}, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 4 {
		t.Fatalf("partitions %v, want 4", parts)
	}
}
