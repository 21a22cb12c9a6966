package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// Projector feeds the projection store from the log and the private
// payload store (never from Kafka), so a projection can be rebuilt at any
// time and catches up by itself: it resumes from the store's watermark.
//
// Every leaf is projected, so the watermark never stalls: a delete of a
// record the projection never saw upserted (its key cannot be known, since
// deletes carry no disclosures) is written as a tombstone keyed by the
// record reference alone, with a warning, and changes no current record.
//
// Run may go on while ingest appends, sharing the Ingester's [Payloads]
// (see [Ingester.Payloads]); a Payloads opened separately only knows the
// batch files present when it was opened.
type Projector struct {
	Log      *merkle.Log
	Payloads *Payloads
	Store    store.Writer
	Catalog  *schema.Catalog
	// LedgerSecret keys the subject tags (schema.SubjectTag).
	LedgerSecret []byte
	// BatchSize is the most entries per store write. Default 1000.
	BatchSize int
	// Poll is how often an idle projector looks for new entries. Default 50ms.
	Poll time.Duration
	// MaxBackoff bounds the wait between retries of a failing step in
	// [Projector.Run]. Default 5s.
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// Registerer, if set, gets the projector's Prometheus metrics
	// (crossledger_projector_*, listed in metrics.go), registered on the
	// first Step. Nil: no metrics.
	Registerer prometheus.Registerer

	projected atomic.Uint64 // the watermark last read or written

	metricsOnce sync.Once
	m           *projectorMetrics
}

// metrics registers the metrics on first use. A registration failure
// (a conflicting collector of the same name) is logged and the projector
// goes on unobserved: metrics must not stop the projection.
func (p *Projector) metrics() *projectorMetrics {
	p.metricsOnce.Do(func() {
		m, err := newProjectorMetrics(p.Registerer)
		if err != nil {
			p.logger().Error("couldn't register projector metrics", "err", err)
			m, _ = newProjectorMetrics(nil)
		}
		p.m = m
	})
	return p.m
}

// ProjectedSize returns the projection's watermark as of the last [Projector.Step]:
// the log size it has projected (0 before the first Step). Safe to call
// concurrently with Run; pass the Projector as [Deps.Projection] so ingest
// pauses while the projection falls behind.
func (p *Projector) ProjectedSize() uint64 { return p.projected.Load() }

var _ ProjectionProgress = (*Projector)(nil)

func (p *Projector) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// Run projects until ctx is done, and then returns ctx's error. A failed
// [Projector.Step] (the store is down, a write timed out) is logged and
// retried, after a wait that starts at Poll and doubles up to MaxBackoff:
// the store's watermark is the commit point and writes are idempotent, so
// the retry resumes where the projection stands. It may run concurrently
// with ingest appending to the log: it only reads entries below the log
// size it observed, whose payloads are durable before the append that
// made them exist.
func (p *Projector) Run(ctx context.Context) error {
	poll := p.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	maxBackoff := p.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Second
	}
	var (
		backoff  time.Duration // 0 while steps succeed
		failures int
	)
	for {
		n, err := p.Step(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := poll
		switch {
		case err != nil:
			failures++
			backoff = min(max(2*backoff, poll), maxBackoff)
			wait = backoff
			// The first failure is an error; the retries that follow
			// while the store stays down are warnings.
			level := slog.LevelWarn
			if failures == 1 {
				level = slog.LevelError
			}
			p.logger().Log(ctx, level, "couldn't project; retrying", "err", err, "failures", failures, "retry_in", wait)
		case failures > 0:
			p.logger().Info("projection resumed", "after_failures", failures)
			failures, backoff = 0, 0
			fallthrough
		case n > 0:
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Step projects the next batch after the store's watermark and returns how
// many entries it wrote (0 when the projection is up to date).
func (p *Projector) Step(ctx context.Context) (int, error) {
	m := p.metrics()
	n, err := p.step(ctx, m)
	if err != nil && ctx.Err() == nil {
		m.errors.Inc()
	}
	return n, err
}

func (p *Projector) step(ctx context.Context, m *projectorMetrics) (int, error) {
	wm, err := p.Store.Watermark(ctx)
	if err != nil {
		return 0, fmt.Errorf("ingest: couldn't read projection watermark: %w", err)
	}
	p.projected.Store(wm.Size)
	size := p.Log.PublishedSize() // with witnesses, only what a quorum cosigned is shown
	m.watermark.Set(float64(wm.Size))
	m.lag.Set(float64(size - min(size, wm.Size)))
	if wm.Size >= size {
		return 0, nil
	}
	bs := uint64(p.BatchSize)
	if bs == 0 {
		bs = 1000
	}
	n := min(bs, size-wm.Size)
	raws, err := p.Log.Entries(ctx, wm.Size, n)
	if err != nil {
		return 0, err
	}
	batch := make([]store.Entry, 0, len(raws))
	// Deletes name records by reference; a record upserted earlier in the
	// same batch is not in the store yet.
	refs := map[[3]string][]string{}
	for i, raw := range raws {
		leaf := wm.Size + uint64(i)
		e, err := p.project(ctx, leaf, raw, refs)
		if err != nil {
			return 0, fmt.Errorf("ingest: couldn't project leaf %d: %w", leaf, err)
		}
		batch = append(batch, e)
	}
	start := time.Now()
	if err := p.Store.Write(ctx, batch); err != nil {
		return 0, fmt.Errorf("ingest: couldn't write projection: %w", err)
	}
	m.write.Observe(time.Since(start).Seconds())
	done := wm.Size + uint64(len(batch))
	p.projected.Store(done)
	m.entries.Add(float64(len(batch)))
	m.watermark.Set(float64(done))
	m.lag.Set(float64(size - done))
	return len(batch), nil
}

func (p *Projector) project(ctx context.Context, leaf uint64, raw []byte, refs map[[3]string][]string) (store.Entry, error) {
	env, err := schema.DecodeEnvelope(raw)
	if err != nil {
		return store.Entry{}, err
	}
	t, err := time.Parse(time.RFC3339, env.Time)
	if err != nil {
		return store.Entry{}, err
	}
	e := store.Entry{Leaf: leaf, Department: env.Department, Seq: env.Seq, Kind: env.Kind,
		Digest: schema.EnvelopeDigest(raw), Time: t.UTC(), Grant: env.Grant, Revoke: env.Revoke, Access: env.Access}
	if env.Kind != schema.KindRecordChange {
		return e, nil
	}
	ch := env.Change
	rt, err := p.Catalog.RecordType(env.Department, ch.Type, ch.SchemaVersion)
	if err != nil {
		return store.Entry{}, err
	}
	c := &store.Change{Type: ch.Type, SchemaVersion: ch.SchemaVersion, Record: ch.Record, Op: ch.Op}
	refKey := [3]string{env.Department, ch.Type, ch.Record}
	if ch.Op == schema.OpDelete {
		key, ok := refs[refKey]
		if !ok {
			key, err = p.Store.ResolveRef(ctx, env.Department, ch.Type, ch.Record)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// The department deleted a record the ledger never saw
				// upserted (e.g. one created before it joined). Deletes
				// carry no disclosures, so the key is unknowable: project a
				// tombstone keyed by the reference alone. The entry stays
				// in the projection (its leaf and seq, so the watermark
				// advances) and no current record changes. Halting would
				// stop the projection for good: the log cannot change.
				p.logger().Warn("delete of a record that was never upserted; projecting a tombstone keyed by its reference",
					"leaf", leaf, "department", env.Department, "seq", env.Seq, "type", ch.Type, "record", ch.Record)
				key = []string{ch.Record}
			case err != nil:
				return store.Entry{}, err
			}
		}
		c.Key = key
		refs[refKey] = key
		e.Change = c
		return e, nil
	}
	encoded, err := p.Payloads.Get(leaf)
	if err != nil {
		return store.Entry{}, err
	}
	ds, err := schema.CheckEncodedDisclosures(ch, encoded)
	if err != nil {
		return store.Entry{}, err
	}
	values, err := schema.Values(rt, ds)
	if err != nil {
		return store.Entry{}, err
	}
	for _, k := range rt.Key {
		v, ok := values[k]
		if !ok {
			return store.Entry{}, fmt.Errorf("key field %s not disclosed", k)
		}
		c.Key = append(c.Key, v)
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	slices.Sort(names)
	// The payload's own disclosure strings, byte for byte, by field name
	// (ds[i] was parsed from encoded[i]).
	disclosures := make(map[string]string, len(ds))
	for i, d := range ds {
		disclosures[d.Name] = encoded[i]
	}
	for _, n := range names {
		f, _ := rt.Field(n)
		c.Values = append(c.Values, store.Value{Name: n, Type: f.Type, Text: values[n], Disclosure: disclosures[n]})
		if f.Subject {
			c.Subjects = append(c.Subjects, schema.SubjectTag(p.LedgerSecret, values[n]))
		}
	}
	slices.Sort(c.Subjects)
	c.Subjects = slices.Compact(c.Subjects)
	refs[refKey] = c.Key
	e.Change = c
	return e, nil
}
