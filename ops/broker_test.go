package ops

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestBrokerConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  BrokerConfig
		okay bool
	}{
		{DefaultBrokerConfig(), true},
		{BrokerConfig{Listen: "127.0.0.1:0", Partitions: 1}, true},
		{BrokerConfig{Listen: ":9092", Partitions: 1}, false},
		{BrokerConfig{Listen: "127.0.0.1", Partitions: 1}, false},
		{BrokerConfig{Listen: "127.0.0.1:99999", Partitions: 1}, false},
		{BrokerConfig{Listen: "127.0.0.1:9092", Partitions: 0}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.okay {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.cfg, err, tc.okay)
		}
	}
}

// TestBrokerPersists produces to a broker with a data dir, restarts it on
// the same dir, and reads the messages back.
func TestBrokerPersists(t *testing.T) {
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	b, err := StartBroker(BrokerConfig{Listen: "127.0.0.1:0", DataDir: dir, Partitions: 1, SyncWrites: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: "persist", RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: true, BatchTimeout: time.Millisecond}
	for attempt := 0; ; attempt++ {
		err = w.WriteMessages(ctx, kafka.Message{Value: []byte("one")}, kafka.Message{Value: []byte("two")})
		if err == nil || attempt > 20 {
			break
		}
		time.Sleep(100 * time.Millisecond) // auto-created topic's leader appears shortly
	}
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	w.Close()
	addr := b.Addr()
	b.Close()

	b2, err := StartBroker(BrokerConfig{Listen: addr, DataDir: dir, Partitions: 1}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b2.Addr()}, Topic: "persist", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for _, want := range []string{"one", "two"} {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read after restart: %v", err)
		}
		if string(m.Value) != want {
			t.Fatalf("read %q, want %q", m.Value, want)
		}
	}
}
