package ops_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/ops/testenv"
)

// These smoke tests prove that `make test` really started each service and
// that the client libraries crossledger depends on speak to it.

func TestSmokeClickHouse(t *testing.T) {
	addr := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var version string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatalf("couldn't query ClickHouse at %s: %v", addr, err)
	}
	t.Logf("ClickHouse %s at %s", version, addr)

	db := fmt.Sprintf("smoke_%d", rand.Uint64()%1e9)
	for _, q := range []string{
		"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".t (id UInt64, name String, tags Array(String), note Nullable(String), kind LowCardinality(String), at DateTime) ENGINE = MergeTree() ORDER BY id",
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)

	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".t")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	note := "已核验"
	for i := range 100 {
		var n *string
		if i%2 == 0 {
			n = &note
		}
		if err := batch.Append(uint64(i), fmt.Sprintf("张伟-%d", i), []string{"a", "b"}, n, "marriage", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatalf("PrepareBatch insert: %v", err)
	}
	var count, sum uint64
	if err := conn.QueryRow(ctx, "SELECT count(), sum(id) FROM "+db+".t").Scan(&count, &sum); err != nil {
		t.Fatal(err)
	}
	var name string
	var gotAt time.Time
	var gotNote *string
	if err := conn.QueryRow(ctx, "SELECT name, at, note FROM "+db+".t WHERE id = 42").Scan(&name, &gotAt, &gotNote); err != nil {
		t.Fatal(err)
	}
	if count != 100 || sum != 4950 || name != "张伟-42" || !gotAt.Equal(at) || gotNote == nil || *gotNote != note {
		t.Fatalf("round trip: count=%d sum=%d name=%q at=%v note=%v", count, sum, name, gotAt, gotNote)
	}
}

func TestSmokeKafka(t *testing.T) {
	addr := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := fmt.Sprintf("smoke-%d", rand.Uint64()%1e9)
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("couldn't dial broker %s: %v", addr, err)
	}
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	conn.Close()

	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}, BatchTimeout: 10 * time.Millisecond}
	var msgs []kafka.Message
	for i := range 30 {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("k%d", i%5)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	w.Close()

	group := topic + "-g"
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: group, Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	seen := map[string]bool{}
	for len(seen) < len(msgs) {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume after %d messages: %v", len(seen), err)
		}
		seen[string(m.Value)] = true
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	r.Close()

	// The committed offsets are on the broker: a new member of the group
	// finds nothing left to read.
	r2 := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: group, Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r2.Close()
	short, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	if m, err := r2.FetchMessage(short); err == nil {
		t.Fatalf("group offsets were not committed: re-read %q at offset %d", m.Value, m.Offset)
	}
}

func TestSmokePostgres(t *testing.T) {
	url := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("couldn't connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	var level, version string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if level != "logical" {
		t.Fatalf("wal_level = %q, want logical (CDC needs logical decoding)", level)
	}
	t.Logf("PostgreSQL %s, wal_level=%s", version, level)
}
