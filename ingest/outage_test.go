package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/ops/testenv"
)

// TestClickHouseOutage kills the projection's ClickHouse server (a
// dedicated one, not the shared test server) for at least
// CROSSLEDGER_CH_OUTAGE_SECONDS (default 30) while departments publish.
// During the outage the log keeps growing: every change published then is
// logged and its receipt verified, and ingest does not pause (its
// max_projection_lag is above the outage load). After the server is back
// on the same ports and data, the projector, which kept retrying by
// itself, catches up: the projection holds every leaf of the log exactly
// once and the current records hold the last published values.
//
// CROSSLEDGER_CH_OUTAGE_CHANGES (default 3000) is the load: a quarter
// before the outage, half during it, a quarter after.
func TestClickHouseOutage(t *testing.T) {
	testenv.Long(t, "stops a server for 30s")
	total := ingesttest.EnvInt(t, "CROSSLEDGER_CH_OUTAGE_CHANGES", 3000)
	outage := time.Duration(ingesttest.EnvInt(t, "CROSSLEDGER_CH_OUTAGE_SECONDS", 30)) * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+outage+time.Duration(total)*10*time.Millisecond)
	defer cancel()
	start := time.Now()
	lap := func(what string) { t.Logf("%s at %v", what, time.Since(start).Round(time.Millisecond)) }

	srv := testenv.StartClickHouse(t)
	lap("dedicated ClickHouse up on " + srv.Addr())
	st, chCfg := clickHouseStore(t, ctx, srv.Addr(), false)
	during := total / 2
	s := ingesttest.Start(t, ctx, ingesttest.Options{
		Config: ingest.Config{BatchSize: 500, BatchAge: 5 * time.Millisecond, FetchMaxWait: 50 * time.Millisecond,
			MaxProjectionLag: uint64(2 * total)},
		Store: st, ProjectorBatch: 700, Pushback: true,
	})
	clients := s.Clients(t, ctx, s.Catalog.Departments(), func(c *adapters.Config) { c.ResendAfter, c.MaxResendAfter = 10*time.Second, time.Minute })
	changes := ingesttest.DemoChanges(total, 2)
	before, rest := changes[:total/4], changes[total/4:]
	mid, after := rest[:during], rest[during:]

	pub := ingesttest.Publish(t, ctx, clients, before, nil)
	ingesttest.WaitDelivered(t, ctx, clients)
	ingesttest.WaitFor(t, ctx, "the projection before the outage", func() bool { return s.Projector.ProjectedSize() == s.Log.Size() })
	lap(fmt.Sprintf("%d changes logged and projected", len(before)))

	srv.Stop()
	down := time.Now()
	stopped := s.Log.Size()
	lap("ClickHouse killed")
	pub.Add(ingesttest.Publish(t, ctx, clients, mid, nil))
	ingesttest.WaitDelivered(t, ctx, clients)
	lap(fmt.Sprintf("%d changes published and receipted during the outage", len(mid)))
	if got, want := s.Log.Size(), stopped+uint64(len(mid)); got != want {
		t.Errorf("log size %d during the outage, want %d", got, want)
	}
	if paused, why := s.Ingester.Paused(); paused {
		t.Errorf("ingest paused during the outage, below max_projection_lag: %s", why)
	}
	if rest := outage - time.Since(down); rest > 0 {
		time.Sleep(rest)
	}
	if p := s.Projector.ProjectedSize(); p != stopped {
		t.Errorf("projected size %d while ClickHouse was down, want %d (the size when it stopped)", p, stopped)
	}
	srv.Start()
	lap(fmt.Sprintf("ClickHouse restarted after %v", time.Since(down).Round(time.Millisecond)))

	pub.Add(ingesttest.Publish(t, ctx, clients, after, nil))
	ingesttest.WaitDelivered(t, ctx, clients)
	lap(fmt.Sprintf("%d more changes logged", len(after)))
	size := s.Log.Size()
	idx := ingesttest.SeqIndex(t, ctx, s.Log)
	ingesttest.CheckLog(t, pub, size, idx)
	checkStatuses(t, ctx, clients, pub, idx)
	checkProjection(t, ctx, st, chCfg, s.Log, s.Catalog, pub)
	lap("projection caught up and checked")
}
