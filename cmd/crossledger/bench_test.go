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
