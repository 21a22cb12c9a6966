// Package testenv hands tests the addresses of the real servers that
// `make test` starts (see services.sh beside this file).
//
// A test that needs a service calls, e.g., [ClickHouse]. When the service's
// address variable is unset the test is skipped — unless
// CROSSLEDGER_REQUIRE_SERVICES=1 (as under `make test` and CI), when it fails:
// a run that was meant to use real servers never passes without them.
package testenv

import (
	"os"
	"testing"
)

// Environment variables set by services.sh.
const (
	EnvClickHouse = "CROSSLEDGER_TEST_CLICKHOUSE" // host:port of ClickHouse's native protocol
	EnvPostgres   = "CROSSLEDGER_TEST_POSTGRES"   // PostgreSQL URL (wal_level=logical)
	EnvKafka      = "CROSSLEDGER_TEST_KAFKA"      // host:port of the Kafka-protocol broker
	EnvRequire    = "CROSSLEDGER_REQUIRE_SERVICES"
	// Path of a crossledger binary built from this tree (make test builds it).
	EnvBin = "CROSSLEDGER_BIN"
	// Paths of torchwood's litewitness and witnessctl binaries.
	EnvLitewitness = "CROSSLEDGER_TEST_LITEWITNESS"
	EnvWitnessctl  = "CROSSLEDGER_TEST_WITNESSCTL"
)

// Required reports whether missing services must fail tests.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// ClickHouse returns the ClickHouse address or skips/fails t.
func ClickHouse(t testing.TB) string { return need(t, EnvClickHouse, "ClickHouse") }

// Postgres returns the PostgreSQL URL or skips/fails t.
func Postgres(t testing.TB) string { return need(t, EnvPostgres, "PostgreSQL") }

// Kafka returns the broker address or skips/fails t.
func Kafka(t testing.TB) string { return need(t, EnvKafka, "Kafka-protocol broker") }

// Binary returns the path of the crossledger binary or skips/fails t.
func Binary(t testing.TB) string { return need(t, EnvBin, "a built crossledger binary") }

// Litewitness returns the paths of torchwood's litewitness and witnessctl
// or skips/fails t.
func Litewitness(t testing.TB) (litewitness, witnessctl string) {
	return need(t, EnvLitewitness, "torchwood's litewitness"), need(t, EnvWitnessctl, "torchwood's witnessctl")
}

// Long is called first by a long acceptance test: under -short it is
// skipped — unless CROSSLEDGER_REQUIRE_SERVICES=1, when it fails, because a
// run that was meant to check everything must not pass without it.
func Long(t testing.TB, why string) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if Required() {
		t.Fatalf("%s: this acceptance test cannot be skipped with -short when %s=1", why, EnvRequire)
	}
	t.Skipf("-short: %s", why)
}

func need(t testing.TB, env, what string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s is required (%s=1) but %s is unset: run the tests with `make test`", what, EnvRequire, env)
	}
	t.Skipf("%s not available: set %s or run `make test`", what, env)
	return ""
}
