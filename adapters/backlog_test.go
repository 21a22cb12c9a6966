package adapters_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/schema"
)

// TestReopenSendsBacklogFirst: a reopened client sends every pending row
// of its outbox (here stored by an earlier client and sent only to a topic
// ingest does not read, so ingest never saw them) before anything
// published after the reopen, in seq order, without waiting for the rows'
// next_attempt; publishing calls made meanwhile are stored and sent after
// it.
func TestReopenSendsBacklogFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lg := startLedger(t, ctx)
	const dept, backlog, fresh = "tax", 250, 40
	outbox := filepath.Join(t.TempDir(), "outbox.db")
	parked := lg.parkedConfig(t, ctx, dept, outbox)
	c, err := adapters.Open(ctx, parked)
	if err != nil {
		t.Fatal(err)
	}
	chs := make([]adapters.Change, backlog)
	for i := range chs {
		typ, v := upsert(t, dept, i)
		chs[i] = adapters.Change{RecordType: typ, Op: schema.OpUpsert, Values: v}
	}
	if _, err := c.PublishBatch(ctx, chs); err != nil && !errors.Is(err, adapters.ErrQueued) {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened on the real topic, with a long ResendAfter: only the
	// backlog pass can send the old rows now.
	cfg := lg.config(t, dept, outbox)
	cfg.ResendAfter, cfg.MaxResendAfter = time.Minute, time.Minute
	c, err = adapters.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range fresh {
		wg.Go(func() {
			typ, v := upsert(t, dept, backlog+i)
			if _, err := c.Publish(ctx, typ, schema.OpUpsert, v); err != nil && !errors.Is(err, adapters.ErrQueued) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	run(t, ctx, c)
	waitFor(t, ctx, "every receipt", func() bool { n, err := c.Pending(ctx); return err == nil && n == 0 })

	seqs := departmentSeqs(t, ctx, lg.addr, lg.changes, dept)
	if len(seqs) < backlog+fresh {
		t.Fatalf("%d messages on the changes topic, want at least %d", len(seqs), backlog+fresh)
	}
	for i, seq := range seqs[:backlog+fresh] {
		if seq != uint64(i+1) {
			t.Fatalf("message %d on the changes topic is seq %d, want %d: the backlog 1–%d is not first and in order (first messages %v)",
				i, seq, i+1, backlog, seqs[:min(len(seqs), 8)])
		}
	}
	for seq := uint64(1); seq <= backlog; seq++ {
		st, err := c.Status(ctx, seq)
		if err != nil || st.State != adapters.StateDone || st.Attempts != 2 {
			t.Fatalf("seq %d: %+v, %v; want done after 2 attempts (stored, then the backlog pass)", seq, st, err)
		}
	}
	if lg.log.Size() != backlog+fresh {
		t.Errorf("log size %d, want %d", lg.log.Size(), backlog+fresh)
	}
}

// departmentSeqs reads the seqs of dept's messages on topic (all in one
// partition, being keyed by dept) up to the end offsets as of the call.
func departmentSeqs(t *testing.T, ctx context.Context, addr, topic, dept string) []uint64 {
	t.Helper()
	var out []uint64
	ingesttest.EachMessage(t, ctx, addr, topic, func(m kafka.Message) {
		if string(m.Key) != dept {
			return
		}
		msg, err := schema.DecodeMessage(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		env, err := schema.DecodeEnvelope(msg.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, env.Seq)
	})
	return out
}
