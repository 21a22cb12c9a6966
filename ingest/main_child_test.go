package ingest_test

import (
	"os"
	"testing"
)

// TestMain runs the child processes that the crash tests start by
// re-running the test binary (chosen by an environment variable; each
// exits by itself), and the tests otherwise.
func TestMain(m *testing.M) {
	if dir := os.Getenv(envChild); dir != "" {
		crashChild(dir)
		os.Exit(5) // unreachable: a child exits by itself
	}
	if dir := os.Getenv(envSDKChild); dir != "" {
		sdkChild(dir)
		os.Exit(5)
	}
	if dir := os.Getenv(envGapDir); dir != "" {
		sdkGapChild(dir)
		os.Exit(5)
	}
	os.Exit(m.Run())
}
