package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/internal/bench"
	"github.com/crossledger/crossledger/ops/testenv"
)

// TestBenchIngest runs a small bench against the real broker, closed and
// open loop, and checks the report is complete and self-consistent.
func TestBenchIngest(t *testing.T) {
	broker := testenv.Kafka(t)
	for _, tc := range []struct {
		name string
		args []string
		mode string
	}{
		{"closed", []string{"--n", "300", "--departments", "3", "--publishers", "2", "--batch", "20"}, "closed"},
		{"open", []string{"--n", "100", "--departments", "2", "--rate", "200"}, "open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "ingest", "--broker", broker, "--data", t.TempDir(), "--json"}, tc.args...)
			code, out, errOut := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			var r bench.IngestResult
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("output is not the JSON result: %v\n%s", err, out)
			}
			n := r.N
			switch {
			case n != map[string]int{"closed": 300, "open": 100}[tc.name] || r.LogSize != uint64(n):
				t.Errorf("n %d, log size %d", n, r.LogSize)
			case r.Mode != tc.mode || r.Broker != broker || r.Store != "sqlite":
				t.Errorf("mode %q broker %q store %q", r.Mode, r.Broker, r.Store)
			case r.Seconds <= 0 || r.PublishedSec <= 0 || r.PublishedSec > r.Seconds:
				t.Errorf("seconds %v, published after %v", r.Seconds, r.PublishedSec)
			case math.Abs(r.Throughput-float64(n)/r.Seconds) > 1e-6*r.Throughput:
				t.Errorf("throughput %v ≠ n / seconds (%v)", r.Throughput, float64(n)/r.Seconds)
			case r.VerifyRate < 100 || math.Abs(r.Ratio-r.Throughput/r.VerifyRate) > 1e-9:
				t.Errorf("verify rate %v, ratio %v", r.VerifyRate, r.Ratio)
			case !(0 < r.LatencyP50 && r.LatencyP50 <= r.LatencyP99 && r.LatencyP99 <= r.LatencyMax && r.LatencyMax <= 1000*r.Seconds):
				t.Errorf("latencies p50 %v p99 %v max %v ms over a %v s run", r.LatencyP50, r.LatencyP99, r.LatencyMax, r.Seconds)
			}
			if tc.mode == "open" && r.Seconds < float64(n)/200*0.9 {
				t.Errorf("open loop at 200/s finished %d changes in %v s", n, r.Seconds)
			}
			if !strings.Contains(errOut, "bench: done") {
				t.Errorf("no progress on stderr: %q", errOut)
			}
		})
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench"}, 2, "Usage: crossledger bench"},
		{[]string{"bench", "no-such-bench"}, 2, `unknown bench "no-such-bench"`},
		{[]string{"bench", "ingest", "--departments", "0"}, 2, "--departments"},
		{[]string{"bench", "ingest", "--sqlite", "a.db", "--clickhouse", "h:1"}, 2, "at most one"},
		{[]string{"bench", "ingest", "--help"}, 0, "Usage: crossledger bench ingest"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestBenchQuery runs a small bench query against the real broker, then
// again on the same data directory (which must reuse the ledger), and
// checks the reports are complete and self-consistent.
func TestBenchQuery(t *testing.T) {
	broker := testenv.Kafka(t)
	data := t.TempDir()
	for i, wantBuilt := range []bool{true, false} {
		args := []string{"bench", "query", "--broker", broker, "--data", data, "--json",
			"--records", "2000", "--queries", "200", "--concurrency", "4"}
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("run %d: exit %d\nstdout: %s\nstderr: %s", i, code, out, errOut)
		}
		var r bench.QueryResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("run %d: output is not the JSON result: %v\n%s", i, err, out)
		}
		g, d := r.Gateway, r.Direct
		switch {
		case r.Built != wantBuilt:
			t.Errorf("run %d: built %v, want %v", i, r.Built, wantBuilt)
		case r.Records != 2000 || r.Citizens != 2000*10/28 || r.Broker != broker || r.Store != "sqlite" || r.Concurrency != 4:
			t.Errorf("run %d: records %d citizens %d broker %q store %q concurrency %d", i, r.Records, r.Citizens, r.Broker, r.Store, r.Concurrency)
		case r.LogSize < 2000+7:
			t.Errorf("run %d: log size %d, want ≥ 2000 records + 7 grants", i, r.LogSize)
		case r.Departments != 5:
			t.Errorf("run %d: %d departments per person, want 5 (real-estate and the four that grant it)", i, r.Departments)
		}
		for _, p := range []struct {
			name string
			ph   bench.QueryPhase
		}{{"gateway", g}, {"direct", d}} {
			ph := p.ph
			switch {
			case ph.Queries != 200 || ph.Failures != 0:
				t.Errorf("run %d %s: %d queries, %d failed", i, p.name, ph.Queries, ph.Failures)
			case ph.Seconds <= 0 || math.Abs(ph.Throughput-float64(ph.Queries)/ph.Seconds) > 1e-6*ph.Throughput:
				t.Errorf("run %d %s: %v q/s over %v s", i, p.name, ph.Throughput, ph.Seconds)
			case !(0 < ph.LatencyP50 && ph.LatencyP50 <= ph.LatencyP99 && ph.LatencyP99 <= ph.LatencyMax && ph.LatencyMax <= 1000*ph.Seconds):
				t.Errorf("run %d %s: p50 %v p99 %v max %v ms over %v s", i, p.name, ph.LatencyP50, ph.LatencyP99, ph.LatencyMax, ph.Seconds)
			case ph.Records < 1:
				t.Errorf("run %d %s: %v records per answer", i, p.name, ph.Records)
			}
		}
		// Both paths read the same records: the gateway leaves out no
		// record the store returns for these grants (all are about the
		// citizen named).
		if g.Records != d.Records {
			t.Errorf("run %d: gateway answered %v records per query, the store %v", i, g.Records, d.Records)
		}
		if math.Abs(r.P50Ratio-g.LatencyP50/d.LatencyP50) > 1e-9 || r.P50Met != (r.P50Ratio <= 1.5) || r.QPSMet != (g.Throughput >= 1000) {
			t.Errorf("run %d: ratio %v (met %v), q/s met %v", i, r.P50Ratio, r.P50Met, r.QPSMet)
		}
		if !strings.Contains(errOut, "bench: done") {
			t.Errorf("run %d: no progress on stderr: %q", i, errOut)
		}
	}

	// A data directory of another size is refused, not rebuilt over.
	code, _, errOut := runCLI(t, "bench", "query", "--broker", broker, "--data", data, "--records", "3000")
	if code == 0 || !strings.Contains(errOut, "holds a ledger of 2000 records") {
		t.Errorf("another size: exit %d, stderr %q", code, errOut)
	}
}

func TestBenchQueryUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench", "query", "--records", "0"}, 2, "--records"},
		{[]string{"bench", "query", "--records", "10", "--citizens", "20"}, 2, "--citizens"},
		{[]string{"bench", "query", "--concurrency", "0"}, 2, "--concurrency"},
		{[]string{"bench", "query", "--help"}, 0, "Usage: crossledger bench query"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
