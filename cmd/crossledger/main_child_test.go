package main

import (
	"os"
	"testing"
)

// TestMain runs the child processes that crash tests start by re-running
// the test binary (chosen by an environment variable), and the tests
// otherwise.
func TestMain(m *testing.M) {
	if file := os.Getenv(envIngestChild); file != "" {
		os.Exit(ingestChild(file))
	}
	if data := os.Getenv(envKeyKillData); data != "" {
		os.Exit(keyKillChild(data))
	}
	os.Exit(m.Run())
}
