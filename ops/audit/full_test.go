package audit

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/crossledger/crossledger/schema"
)

// TestFullAudit audits a log of CROSSLEDGER_AUDIT_ENTRIES entries
// (default 100 000) served over HTTP, from a fresh state: every entry
// checked, the counts exact. `make test` runs it at full size without the
// race detector and at 10 000 under it.
func TestFullAudit(t *testing.T) {
	n := 100000
	if s := os.Getenv("CROSSLEDGER_AUDIT_ENTRIES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("CROSSLEDGER_AUDIT_ENTRIES=%q is not a positive number", s)
		}
	}
	lg := newTestLedger(t, t.TempDir())
	want := map[string]map[schema.Kind]uint64{}
	start := time.Now()
	lg.fill(n, want)
	built := time.Since(start)
	c, url := serve(t, lg.log.Handler())
	cfg := config(t, url, lg.v, t.TempDir())
	start = time.Now()
	rep := run(t, cfg)
	took := time.Since(start)
	if !rep.OK() {
		t.Fatalf("%d problems:%s", rep.ProblemCount, problems(rep))
	}
	if rep.Verified == nil || rep.Verified.Size != uint64(n) || rep.From != 0 || rep.To != uint64(n) {
		t.Fatalf("verified %+v, checked [%d, %d), want all %d", rep.Verified, rep.From, rep.To, n)
	}
	if got := countsOf(rep); !equalCounts(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	t.Logf("%d entries: built in %v, audited in %v (%.0f entries/s) with %d requests, %d bytes",
		n, built.Round(time.Millisecond), took.Round(time.Millisecond), float64(n)/took.Seconds(), len(c.take()), c.bytes.Load())
}
