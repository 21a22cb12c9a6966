package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/merkle"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	code = run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestHelpListsEveryCommand(t *testing.T) {
	code, out, _ := runCLI(t, "help")
	if code != 0 {
		t.Fatalf("help exit %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("help does not list %q:\n%s", c.name, out)
		}
		// Every subcommand answers --help with its usage and exit 0.
		code, _, errOut := runCLI(t, c.name, "--help")
		if code != 0 || !strings.Contains(errOut, "Usage: crossledger "+c.name) {
			t.Errorf("%s --help: exit %d, output %q", c.name, code, errOut)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"broker", "--no-such-flag"},
		{"keygen"},
		{"keygen", "wat"},
		{"schema", "check"},
		{"log", "frobnicate"},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestKeygenLogMakesAWorkingKeyAndNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "keygen", "log", "--origin", "test.example/log", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	skey, err := readKeyFile(filepath.Join(dir, "test.example_log.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := merkle.NewSigner(skey); err != nil {
		t.Fatalf("generated key does not load: %v", err)
	}
	if !strings.Contains(out, "test.example/log+") {
		t.Errorf("output lacks the verifier key: %s", out)
	}
	if st, _ := os.Stat(filepath.Join(dir, "test.example_log.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("signer key mode %v, want 0600", st.Mode().Perm())
	}
	if code, _, errOut := runCLI(t, "keygen", "log", "--origin", "test.example/log", "--out", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("second keygen: exit %d, %q; want a refusal to overwrite", code, errOut)
	}
}

func TestSchemaCheckReportsFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("id: tax\nname: Tax\ntypes:\n  - name: credit\n    version: 1\n    key: [id]\n    fields:\n      - name: id\n        type: nosuchtype\n        required: true\n"), 0o644)
	code, _, errOut := runCLI(t, "schema", "check", bad)
	if code != 1 || !strings.Contains(errOut, "bad.yaml") || !strings.Contains(errOut, ":9") {
		t.Fatalf("exit %d, %q: want an error naming bad.yaml line 9", code, errOut)
	}
	// The demo set written out by `schema demo --out` checks clean.
	if code, _, errOut := runCLI(t, "schema", "demo", "--out", dir+"/demo"); code != 0 {
		t.Fatalf("schema demo --out: %s", errOut)
	}
	code, out, errOut := runCLI(t, "schema", "check", dir+"/demo/departments")
	if code != 0 || !strings.Contains(out, "6 departments") {
		t.Fatalf("exit %d out %q err %q", code, out, errOut)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDevStartsAndResumes runs `dev` twice on one data directory: the
// second run finds the first run's log key and log, and serves the same
// checkpoint over HTTP.
func TestDevStartsAndResumes(t *testing.T) {
	data := t.TempDir()
	var first string
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		env := &cliEnv{stdout: out, stderr: io.Discard, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		done := make(chan int)
		go func() {
			done <- run(ctx, env, []string{"dev", "--data", data, "--broker", "127.0.0.1:0", "--http", "127.0.0.1:0"})
		}()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "tile API") {
			if time.Now().After(deadline) {
				t.Fatalf("dev did not start: %q", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		m := regexp.MustCompile(`http://(\S+)/checkpoint`).FindStringSubmatch(out.String())
		resp, err := http.Get("http://" + m[1] + "/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), devOrigin+"\n") {
			t.Fatalf("run %d: checkpoint %d %q", i, resp.StatusCode, body)
		}
		if i == 0 {
			first = string(body)
		} else if string(body) != first {
			t.Fatalf("second run serves another log:\n%s\nvs\n%s", body, first)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("run %d exit %d", i, code)
		}
	}
}
