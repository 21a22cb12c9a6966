package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/crossledger/crossledger/schema"
)

// BenchmarkAudit measures a full audit of N entries served over HTTP on
// 127.0.0.1 (CROSSLEDGER_AUDIT_BENCH_N, default 20000) against, in the
// same run, the bound the issue sets: SHA-256 over every entry plus one
// Ed25519 verification (crypto/ed25519) per entry, on one goroutine.
// It reports both rates and their ratio (audit/bound; the target is
// ≥ 0.8). The audit verifies on all cores ([Config.Workers]), so the
// ratio can pass 1; bound-allcores-ratio divides by GOMAXPROCS for the
// per-core view.
func BenchmarkAudit(b *testing.B) {
	n := 20000
	if s := os.Getenv("CROSSLEDGER_AUDIT_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("CROSSLEDGER_AUDIT_BENCH_N=%q", s)
		}
	}
	lg := newTestLedger(b, b.TempDir())
	lg.fill(n, map[string]map[schema.Kind]uint64{})
	_, url := serve(b, lg.log.Handler())

	// The bound's inputs: every entry, its signed bytes, signature and key.
	raws, err := lg.log.Entries(context.Background(), 0, uint64(n))
	if err != nil {
		b.Fatal(err)
	}
	type item struct {
		raw, msg, sig []byte
		pub           ed25519.PublicKey
	}
	items := make([]item, n)
	for i, raw := range raws {
		env, err := schema.DecodeEnvelope(raw)
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := env.SigningBytes()
		sig, _ := base64.RawURLEncoding.DecodeString(env.Sig)
		items[i] = item{raw: raw, msg: msg, sig: sig, pub: schema.DemoKey(env.Department).Public().(ed25519.PublicKey)}
	}
	bound := func() time.Duration {
		start := time.Now()
		for _, it := range items {
			sink ^= sha256.Sum256(it.raw)[0]
			if !ed25519.Verify(it.pub, it.msg, it.sig) {
				b.Fatal("bound: signature does not verify")
			}
		}
		return time.Since(start)
	}

	var auditTime, boundTime time.Duration
	for b.Loop() {
		b.StopTimer()
		cfg := config(b, url, lg.v, b.TempDir())
		boundTime += bound()
		b.StartTimer()
		start := time.Now()
		rep, err := Run(context.Background(), cfg)
		auditTime += time.Since(start)
		if err != nil || !rep.OK() || rep.To != uint64(n) {
			b.Fatalf("audit: %v %+v", err, rep)
		}
	}
	audit := float64(n*b.N) / auditTime.Seconds()
	bnd := float64(n*b.N) / boundTime.Seconds()
	b.ReportMetric(audit, "entries/s")
	b.ReportMetric(bnd, "bound-entries/s")
	b.ReportMetric(audit/bnd, "ratio")
	b.ReportMetric(audit/bnd/float64(max(1, gomaxprocs())), "bound-allcores-ratio")
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

// sink keeps the bound's hashes from being optimised away.
var sink byte
