package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossledger/crossledger/internal/dev"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/audit"
	"github.com/crossledger/crossledger/schema"
)

// auditLog is a log of n signed civil-affairs marriage records (seqs
// 1..n) under a fresh key of the demo origin, served on 127.0.0.1.
type auditLog struct {
	log  *merkle.Log
	vkey string
	url  string
	h    atomic.Pointer[http.Handler]
}

func newAuditLog(t *testing.T, skey, vkey string, n int, seq0 int) *auditLog {
	t.Helper()
	l, err := merkle.Open(context.Background(), filepath.Join(t.TempDir(), "log"), merkle.Options{SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	a := &auditLog{log: l, vkey: vkey}
	a.add(t, n, seq0)
	var h http.Handler = l.Handler()
	a.h.Store(&h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*a.h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *auditLog) add(t *testing.T, n, seq0 int) {
	t.Helper()
	rt, err := schema.Demo().RecordType("civil-affairs", "marriage", 0)
	if err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	for i := range n {
		id := fmt.Sprintf("M-%d", seq0+i)
		ch, _, err := schema.BuildChange(rt, schema.OpUpsert, schema.RecordRef(schema.DemoSecret("civil-affairs"), "marriage", []string{id}), map[string]string{
			"marriage_id": id, "spouse_a_id": "11010519491231002X", "spouse_a_name": "A", "spouse_b_id": "110105198001010016",
			"spouse_b_name": "B", "status": "married", "registered_on": "2019-05-20", "registry_office": "Haidian",
		}, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: "civil-affairs", Seq: uint64(seq0 + i), Time: "2026-01-02T03:04:05Z", Change: ch}
		if err := schema.Sign(env, schema.DemoKey("civil-affairs")); err != nil {
			t.Fatal(err)
		}
		e, err := env.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if _, err := a.log.Append(context.Background(), entries, nil); err != nil {
		t.Fatal(err)
	}
}

func TestAuditCommand(t *testing.T) {
	skey, vkey, err := merkle.GenerateKey(dev.Origin)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuditLog(t, skey, vkey, 300, 1)
	state := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "log.pub")
	if err := os.WriteFile(keyFile, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"audit", "--url", a.url, "--genesis", "demo", "--schemas", "demo", "--state", state}

	code, out, errOut := runCLI(t, append(base, "--log-key", vkey)...)
	if code != 0 || !strings.Contains(out, "civil-affairs") || !strings.Contains(out, "record.change 300") || !strings.Contains(out, "ok:") {
		t.Fatalf("clean audit: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "audit: 100%") {
		t.Errorf("no progress lines on stderr: %q", errOut)
	}

	// The key as a file, and as @FILE; --json after growth.
	a.add(t, 10, 301)
	for _, k := range []string{keyFile, "@" + keyFile} {
		code, out, errOut = runCLI(t, append(base, "--log-key", k, "--json")...)
		var rep audit.Report
		if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.To != 310 || rep.Departments["civil-affairs"].Seq != 310 {
			t.Fatalf("--log-key %s --json: exit %d\n%s\n%s", k, code, out, errOut)
		}
	}

	// A rollback: another log under the same key, smaller. Exit 1, loudly,
	// with both checkpoints.
	b := newAuditLog(t, skey, vkey, 200, 1)
	a.h.Store(b.h.Load())
	code, out, _ = runCLI(t, append(base, "--log-key", vkey)...)
	if code != 1 || !strings.Contains(out, "!!! ROLLBACK") || strings.Count(out, "— "+dev.Origin) < 2 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}

	// Could not check: exit 2.
	for name, args := range map[string][]string{
		"bad flag":      {"audit", "--nope"},
		"missing flags": {"audit", "--url", a.url},
		"bad key":       append(base, "--log-key", "not-a-key"),
		"unreachable":   {"audit", "--url", "http://127.0.0.1:1/", "--log-key", vkey, "--genesis", "demo", "--schemas", "demo", "--state", t.TempDir()},
	} {
		if code, out, errOut := runCLI(t, args...); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s\n%s", name, code, out, errOut)
		}
	}
	// Another log's key: the checkpoint does not verify — a finding.
	if code, out, _ := runCLI(t, "audit", "--url", a.url, "--log-key", otherKey(t), "--genesis", "demo", "--schemas", "demo", "--state", t.TempDir()); code != 1 || !strings.Contains(out, "checkpoint: ") {
		t.Errorf("another log's key: exit %d, want 1\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "audit", "--help"); code != 0 || !strings.Contains(errOut, "Exit status: 0 clean, 1 a problem found") {
		t.Errorf("--help: exit %d\n%s", code, errOut)
	}
}

func otherKey(t *testing.T) string {
	_, vkey, err := merkle.GenerateKey("example.com/other")
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// TestAuditFollow: --follow reports a bad entry as it appears, and stops
// with exit 1 at a fork.
func TestAuditFollow(t *testing.T) {
	skey, vkey, err := merkle.GenerateKey(dev.Origin)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuditLog(t, skey, vkey, 20, 1)
	var out, errOut syncBuffer
	env := &cliEnv{stdout: &out, stderr: &errOut, logger: slog.New(slog.DiscardHandler)}
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), env, []string{"audit", "--url", a.url, "--log-key", vkey, "--genesis", "demo", "--schemas", "demo",
			"--state", t.TempDir(), "--follow", "--interval", "20ms"})
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in:\n%s\n%s", what, out.String(), errOut.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("checked entries [0, 20)")
	a.add(t, 1, 25) // a seq gap
	waitFor("PROBLEM index 20: seq-gap")
	b := newAuditLog(t, skey, vkey, 21, 1) // same size, other entries
	a.h.Store(b.h.Load())
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(out.String(), "!!! FORK") {
			t.Fatalf("exit %d at a fork:\n%s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("--follow did not stop at a fork:\n%s", out.String())
	}
}
