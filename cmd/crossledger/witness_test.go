package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/ops/config"
	"github.com/crossledger/crossledger/ops/testenv"
)

func TestKeygenWitness(t *testing.T) {
	const name = "tax.example/witness"
	dir := t.TempDir()
	keyName, pubName := filepath.Join(dir, "tax.example_witness.key"), filepath.Join(dir, "tax.example_witness.pub")
	code, out, errOut := runCLI(t, "keygen", "witness", "--name", name, "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	skey, err := keyfile.Read(keyName)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyName); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("signer key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	s, err := witness.NewSigner(skey)
	if err != nil {
		t.Fatalf("the signer key does not load: %v", err)
	}
	vkey, err := keyfile.Read(pubName)
	if err != nil {
		t.Fatal(err)
	}
	v, err := witness.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("the .pub is not a cosignature vkey: %v", err)
	}
	if vkey != s.VerifierKey() || v.Name() != name || s.Name() != name || v.KeyHash() != s.KeyHash() {
		t.Fatalf("vkey %q (name %q, hash %08x) is not the signer's %q (name %q, hash %08x)", vkey, v.Name(), v.KeyHash(), s.VerifierKey(), s.Name(), s.KeyHash())
	}
	msg := []byte("example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	if sig, err := s.Sign(msg); err != nil || !v.Verify(msg, sig) {
		t.Fatalf("a cosignature by the key does not verify under the .pub (%v)", err)
	}
	if !strings.Contains(out, vkey) {
		t.Errorf("output lacks the vkey %q:\n%s", vkey, out)
	}

	// Never overwrites.
	if code, _, errOut := runCLI(t, "keygen", "witness", "--name", name, "--out", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("second keygen: exit %d, %q; want a refusal to overwrite", code, errOut)
	}
	if again, _ := keyfile.Read(keyName); again != skey {
		t.Fatal("the second keygen changed the signer key")
	}
	if again, _ := keyfile.Read(pubName); again != vkey {
		t.Fatal("the second keygen changed the verifier key")
	}

	// A keygen stopped between its two files is completed from the key.
	if err := os.Remove(pubName); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "keygen", "witness", "--name", name, "--out", dir)
	if code != 0 || !strings.Contains(out, "existed") {
		t.Fatalf("keygen after a lost .pub: exit %d, %q %q", code, out, errOut)
	}
	if got, _ := keyfile.Read(pubName); got != vkey {
		t.Fatalf("rewritten verifier %q, want %q", got, vkey)
	}
	if again, _ := keyfile.Read(keyName); again != skey {
		t.Fatal("completing the pair changed the signer key")
	}

	// A lone .key that is not this witness's key is left alone, with an
	// error: a log key of that name, and a witness key of another name
	// that maps to the same file.
	logKey, _, err := merkle.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := witness.GenerateKey("tax.example_witness")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{logKey, otherKey} {
		d := t.TempDir()
		kn := filepath.Join(d, "tax.example_witness.key")
		if err := os.WriteFile(kn, []byte(k+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, "keygen", "witness", "--name", name, "--out", d)
		if code != 1 || !strings.Contains(errOut, "is not a witness signer key") {
			t.Errorf("lone .key %.30s…: exit %d, %q; want a refusal", k, code, errOut)
		}
		if _, err := os.Stat(filepath.Join(d, "tax.example_witness.pub")); err == nil {
			t.Errorf("lone .key %.30s…: a .pub was written", k)
		}
		if got, _ := keyfile.Read(kn); got != k {
			t.Errorf("lone .key %.30s…: changed", k)
		}
	}

	// --name is required: a usage error (exit 2).
	if code, _, errOut := runCLI(t, "keygen", "witness", "--out", t.TempDir()); code != 2 || !strings.Contains(errOut, "--name is required") {
		t.Errorf("no --name: exit %d, %q", code, errOut)
	}
	// Names a signed-note key cannot carry are refused, and nothing is
	// written.
	for _, bad := range []string{"tax example/witness", "tax+example/witness"} {
		d := t.TempDir()
		code, _, errOut := runCLI(t, "keygen", "witness", "--name", bad, "--out", d)
		if code != 1 || !strings.Contains(errOut, "invalid key name") {
			t.Errorf("--name %q: exit %d, %q; want an invalid key name error", bad, code, errOut)
		}
		if es, _ := os.ReadDir(d); len(es) != 0 {
			t.Errorf("--name %q left files: %v", bad, es)
		}
	}
}

// witnessSetup is a witness config: a witness key made by keygen, a log
// key, and the YAML file naming them.
type witnessSetup struct {
	dir, config            string
	origin, logKey, logPub string // the witnessed log
	witnessPub             string
	listen, metrics        string
}

const witnessOrigin = "witness-test.example/log"

func newWitnessSetup(t *testing.T) *witnessSetup {
	t.Helper()
	s := &witnessSetup{dir: t.TempDir(), origin: witnessOrigin}
	if code, _, errOut := runCLI(t, "keygen", "witness", "--name", "tax.example/witness", "--out", s.dir); code != 0 {
		t.Fatalf("keygen witness: exit %d %s", code, errOut)
	}
	var err error
	if s.witnessPub, err = keyfile.Read(filepath.Join(s.dir, "tax.example_witness.pub")); err != nil {
		t.Fatal(err)
	}
	if s.logKey, s.logPub, err = merkle.GenerateKey(s.origin); err != nil {
		t.Fatal(err)
	}
	s.listen, s.metrics = witnessFreeAddr(t), witnessFreeAddr(t)
	// Relative paths resolve against the config's directory.
	s.config = s.write(t, "witness.yaml", fmt.Sprintf(`
witness:
  listen: %s
  key_file: tax.example_witness.key
  state_dir: state
  logs:
    - origin: %s
      keys: [%s]
metrics:
  listen: %s
`, s.listen, s.origin, s.logPub, s.metrics))
	return s
}

func (s *witnessSetup) write(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// witnessFreeAddr returns a 127.0.0.1 address whose port was free a
// moment ago.
func witnessFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestWitnessConfigCheckAndErrors(t *testing.T) {
	s := newWitnessSetup(t)
	if code, out, errOut := runCLI(t, "witness", "--config", s.config, "--check"); code != 0 || out != s.config+": ok\n" {
		t.Fatalf("--check: exit %d, %q %q", code, out, errOut)
	}
	_, otherPub, err := merkle.GenerateKey("other.example/log")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no logs", "witness:\n  key_file: k\n  state_dir: s\n", "witness.logs: name at least one log to cosign"},
		{"empty logs", "witness:\n  key_file: k\n  state_dir: s\n  logs: []\n", "witness.logs: name at least one log to cosign"},
		{"key named otherwise", fmt.Sprintf("witness:\n  key_file: k\n  state_dir: s\n  logs:\n    - origin: %s\n      keys: [%s]\n", witnessOrigin, otherPub),
			fmt.Sprintf(`witness.logs: log %q: key is named "other.example/log", not the origin`, witnessOrigin)},
		{"no state_dir", fmt.Sprintf("witness:\n  key_file: k\n  logs:\n    - origin: %s\n      keys: [%s]\n", s.origin, s.logPub), "witness.state_dir: is required"},
		{"no key_file", fmt.Sprintf("witness:\n  state_dir: s\n  logs:\n    - origin: %s\n      keys: [%s]\n", s.origin, s.logPub), "witness.key_file: is required"},
		{"log without keys", "witness:\n  key_file: k\n  state_dir: s\n  logs:\n    - origin: a.example/log\n", "witness.logs.0.keys: give the log's verifier key"},
		{"log without origin", fmt.Sprintf("witness:\n  key_file: k\n  state_dir: s\n  logs:\n    - keys: [%s]\n", s.logPub), "witness.logs.0.origin: is required"},
		{"log twice", fmt.Sprintf("witness:\n  key_file: k\n  state_dir: s\n  logs:\n    - {origin: %[1]s, keys: [%[2]s]}\n    - {origin: %[1]s, keys: [%[2]s]}\n", s.origin, s.logPub),
			fmt.Sprintf("witness.logs: log %q configured twice", s.origin)},
		{"not a log key", fmt.Sprintf("witness:\n  key_file: k\n  state_dir: s\n  logs:\n    - origin: %s\n      keys: [not-a-key]\n", s.origin), `key "not-a-key"`},
		{"unknown field", "witness:\n  key_file: k\n  state_dir: s\n  stat_dir: t\n", "stat_dir"},
		{"bad metrics.listen", fmt.Sprintf("witness:\n  key_file: k\n  state_dir: s\n  logs:\n    - origin: %s\n      keys: [%s]\nmetrics:\n  listen: nowhere\n", s.origin, s.logPub), "metrics.listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := s.write(t, strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.yaml)
			code, out, errOut := runCLI(t, "witness", "--config", file, "--check")
			if code != 1 || !strings.Contains(errOut, file) || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q (stdout %q); want exit 1 naming %s and %q", code, errOut, out, file, tc.want)
			}
		})
	}

	// $CROSSLEDGER_WITNESS_KEY stands in for witness.key_file.
	skey, err := keyfile.Read(filepath.Join(s.dir, "tax.example_witness.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("key from the environment", func(t *testing.T) {
		t.Setenv(config.EnvWitnessKey, skey)
		file := s.write(t, "env-key.yaml", fmt.Sprintf("witness:\n  state_dir: s\n  logs:\n    - origin: %s\n      keys: [%s]\n", s.origin, s.logPub))
		if code, out, errOut := runCLI(t, "witness", "--config", file, "--check"); code != 0 || out != file+": ok\n" {
			t.Errorf("exit %d, %q %q", code, out, errOut)
		}
	})

	// The key file is read at start: a missing or wrong one stops the
	// witness before it listens.
	for _, tc := range []struct {
		name, key, want string
	}{
		{"missing key file", "", "couldn't read witness key"},
		{"log key as witness key", s.logKey, "couldn't use the witness key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := filepath.Join(t.TempDir(), "w.key")
			if tc.key != "" {
				if err := os.WriteFile(key, []byte(tc.key+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			file := s.write(t, strings.ReplaceAll(tc.name, " ", "-")+".yaml", fmt.Sprintf(
				"witness:\n  listen: %s\n  key_file: %s\n  state_dir: %s\n  logs:\n    - origin: %s\n      keys: [%s]\nmetrics:\n  listen: %s\n",
				witnessFreeAddr(t), key, t.TempDir(), s.origin, s.logPub, witnessFreeAddr(t)))
			if code, _, errOut := runCLI(t, "witness", "--config", file); code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, %q; want exit 1 and %q", code, errOut, tc.want)
			}
		})
	}
}

// witnessProc is a running `crossledger witness`.
type witnessProc struct {
	addr, metrics string
	out           *syncBuffer // stdout and log
	stop          func(t *testing.T)
}

var witnessBanner = regexp.MustCompile(`crossledger witness \S+ on http://(\S+) \(metrics on http://(\S+)\)\nverifier key: (\S+)\n`)

// waitWitnessUp waits for the banner, or the process's end.
func waitWitnessUp(t *testing.T, p *witnessProc, exited <-chan struct{}) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if m := witnessBanner.FindStringSubmatch(p.out.String()); m != nil {
			p.addr, p.metrics = m[1], m[2]
			return
		}
		select {
		case <-exited:
			t.Fatalf("witness exited before serving:\n%s", p.out.String())
		case <-deadline:
			t.Fatalf("witness not up within 30s:\n%s", p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startWitnessInProcess runs the witness command in this process, stopped
// by cancelling its context.
func startWitnessInProcess(t *testing.T, cfg string) *witnessProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &witnessProc{out: &syncBuffer{}}
	env := &cliEnv{stdout: p.out, stderr: p.out, logger: slog.New(slog.NewTextHandler(p.out, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	exited := make(chan struct{})
	var code int
	go func() {
		defer close(exited)
		code = run(ctx, env, []string{"witness", "--config", cfg})
	}()
	stopped := false
	p.stop = func(t *testing.T) {
		t.Helper()
		stopped = true
		cancel()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Fatalf("witness did not stop within 10s of cancel:\n%s", p.out.String())
		}
		if code != 0 || !strings.Contains(p.out.String(), "stopped") {
			t.Fatalf("witness stopped with exit %d:\n%s", code, p.out.String())
		}
	}
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-exited
		}
	})
	waitWitnessUp(t, p, exited)
	return p
}

// startWitnessBinary runs $CROSSLEDGER_BIN witness, stopped by SIGTERM.
func startWitnessBinary(bin string) func(t *testing.T, cfg string) *witnessProc {
	return func(t *testing.T, cfg string) *witnessProc {
		t.Helper()
		p := &witnessProc{out: &syncBuffer{}}
		cmd := exec.Command(bin, "witness", "--config", cfg)
		cmd.Stdout, cmd.Stderr = p.out, p.out
		ingesttest.DieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatalf("couldn't start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			select {
			case <-exited:
			default:
				cmd.Process.Kill()
				<-exited
			}
		})
		p.stop = func(t *testing.T) {
			t.Helper()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Fatalf("witness did not stop within 10s of SIGTERM:\n%s", p.out.String())
			}
			if waitErr != nil || !strings.Contains(p.out.String(), "stopped") {
				t.Fatalf("witness after SIGTERM: %v:\n%s", waitErr, p.out.String())
			}
		}
		waitWitnessUp(t, p, exited)
		return p
	}
}

// TestWitnessCommand runs `crossledger witness` from a YAML config, in
// this process and as the built binary: it cosigns a real log's
// checkpoint with a cosignature that verifies, keeps what it cosigned
// across a restart on the same state directory, and then refuses a stale
// old size (409 with its size), a fork at the same size and a proof that
// does not verify (422), while extending consistently still works; its
// metrics count the answers.
func TestWitnessCommand(t *testing.T) {
	t.Run("in-process", func(t *testing.T) { testWitnessCommand(t, startWitnessInProcess) })
	t.Run("binary", func(t *testing.T) {
		testWitnessCommand(t, startWitnessBinary(testenv.Binary(t)))
	})
}

func testWitnessCommand(t *testing.T, start func(t *testing.T, cfg string) *witnessProc) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := newWitnessSetup(t)
	wv, err := witness.NewVerifier(s.witnessPub)
	if err != nil {
		t.Fatal(err)
	}
	logA := openTestLog(t, ctx, s.logKey, 5, "A")
	logB := openTestLog(t, ctx, s.logKey, 5, "B") // same key and size, other entries: a fork
	headA5, headB5 := logA.Head(), logB.Head()
	otherKey, _, err := merkle.GenerateKey(s.origin)
	if err != nil {
		t.Fatal(err)
	}
	impostor := openTestLog(t, ctx, otherKey, 5, "A") // the origin, another key
	strangerKey, _, err := merkle.GenerateKey("stranger.example/log")
	if err != nil {
		t.Fatal(err)
	}
	stranger := openTestLog(t, ctx, strangerKey, 1, "S")

	p := start(t, s.config)
	if p.addr != s.listen || p.metrics != s.metrics {
		t.Errorf("serving on %s (metrics %s), configured %s (metrics %s)", p.addr, p.metrics, s.listen, s.metrics)
	}
	if m := witnessBanner.FindStringSubmatch(p.out.String()); m[3] != s.witnessPub {
		t.Errorf("printed verifier key %q, keygen's %q", m[3], s.witnessPub)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body, _ := witnessGet(t, ctx, p.metrics, path); code != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
	}

	code, body, _ := addCheckpoint(t, ctx, p.addr, witness.AddCheckpoint{OldSize: 0, Checkpoint: headA5})
	if code != http.StatusOK {
		t.Fatalf("add-checkpoint of size 5 from 0: %d %q\n%s", code, body, p.out.String())
	}
	cosigned, err := witness.Merge(headA5, []byte(body))
	if err != nil {
		t.Fatalf("the answer %q is not a signature line: %v", body, err)
	}
	n, err := note.Open(cosigned, note.VerifierList(wv))
	if err != nil || len(n.Sigs) != 1 || n.Sigs[0].Name != wv.Name() {
		t.Fatalf("the cosignature does not verify under the witness's vkey: %v (%+v)", err, n)
	}
	if ts, err := witness.Timestamp(n.Sigs[0]); err != nil || time.Since(ts) > time.Minute || time.Until(ts) > time.Minute {
		t.Errorf("cosignature timestamp %v (%v), want about now", ts, err)
	}
	pol, err := witness.ParsePolicy(fmt.Appendf(nil, "log %s\nwitness tax %s\nquorum tax\n", s.logPub, s.witnessPub))
	if err != nil {
		t.Fatal(err)
	}
	vd, err := pol.Check(cosigned, nil)
	if err != nil || !slices.Equal(vd.Witnesses, []string{"tax"}) || vd.Checkpoint.Size != 5 {
		t.Fatalf("policy check of the cosigned checkpoint: %v, %+v", err, vd)
	}
	h := sha256.Sum256([]byte(s.origin))
	if code, body, _ := witnessGet(t, ctx, p.addr, "/"+hex.EncodeToString(h[:])+"/checkpoint"); code != http.StatusOK || body != string(cosigned) {
		t.Errorf("GET the latest cosigned checkpoint: %d %q, want %q", code, body, cosigned)
	}
	if code, body, _ := addCheckpoint(t, ctx, p.addr, witness.AddCheckpoint{OldSize: 0, Checkpoint: impostor.Head()}); code != http.StatusForbidden {
		t.Errorf("a checkpoint signed by another key: %d %q, want 403", code, body)
	}
	if code, body, _ := addCheckpoint(t, ctx, p.addr, witness.AddCheckpoint{OldSize: 0, Checkpoint: stranger.Head()}); code != http.StatusNotFound {
		t.Errorf("a checkpoint of an unknown log: %d %q, want 404", code, body)
	}
	if code, body, _ := addCheckpoint(t, ctx, p.addr, witness.AddCheckpoint{OldSize: 0, Checkpoint: []byte("garbage\n")}); code != http.StatusNotFound && code != http.StatusBadRequest {
		t.Errorf("garbage: %d %q, want 400 or 404", code, body)
	}
	metrics := witnessMetrics(t, ctx, p.metrics)
	for _, want := range []string{
		fmt.Sprintf(`crossledger_witness_requests_total{code="200",origin=%q} 1`, s.origin),
		fmt.Sprintf(`crossledger_witness_requests_total{code="403",origin=%q} 1`, s.origin),
		`crossledger_witness_requests_total{code="404",origin=""}`,
		fmt.Sprintf(`crossledger_witness_cosigned_size{origin=%q} 5`, s.origin),
	} {
		if !slices.ContainsFunc(metrics, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("/metrics lacks %q:\n%s", want, strings.Join(metrics, "\n"))
		}
	}
	p.stop(t)

	// Restarted on the same state directory, it remembers size 5.
	p = start(t, s.config)
	if !strings.Contains(p.out.String(), "cosigned_size=5") {
		t.Errorf("the restarted witness does not report size 5 cosigned:\n%s", p.out.String())
	}
	code, body, hdr := addCheckpoint(t, ctx, p.addr, witness.AddCheckpoint{OldSize: 0, Checkpoint: headA5})
	if size, err := witness.ParseSize([]byte(body)); code != http.StatusConflict || err != nil || size != 5 || hdr.Get("Content-Type") != witness.ContentTypeSize {
		t.Errorf("stale old size 0 after the restart: %d %q (%s), want 409 with size 5 as %s", code, body, hdr.Get("Content-Type"), witness.ContentTypeSize)
	}
	if code, body, _ := addCheckpoint(t, ctx, p.addr, witness.AddCheckpoint{OldSize: 5, Checkpoint: headB5}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "fork") {
		t.Errorf("a fork at size 5: %d %q, want 422 naming a fork", code, body)
	}
	appendTestEntries(t, ctx, logA, 3, "A")
	headA8 := logA.Head()
	pr, err := logA.ConsistencyProof(ctx, 5, 8)
	if err != nil {
		t.Fatal(err)
	}
	bad := make([][]byte, len(pr))
	for i := range pr {
		bad[i] = bytes.Clone(pr[i])
	}
	bad[0][0] ^= 1
	if code, body, _ := addCheckpoint(t, ctx, p.addr, witness.AddCheckpoint{OldSize: 5, Proof: bad, Checkpoint: headA8}); code != http.StatusUnprocessableEntity {
		t.Errorf("a consistency proof that does not verify: %d %q, want 422", code, body)
	}
	code, body, _ = addCheckpoint(t, ctx, p.addr, witness.AddCheckpoint{OldSize: 5, Proof: pr, Checkpoint: headA8})
	if code != http.StatusOK {
		t.Fatalf("extending 5 → 8 with a good proof after the restart: %d %q", code, body)
	}
	if cos, err := witness.Merge(headA8, []byte(body)); err != nil {
		t.Errorf("cosignature of size 8: %v", err)
	} else if vd, err := pol.Check(cos, nil); err != nil || vd.Checkpoint.Size != 8 {
		t.Errorf("cosignature of size 8 does not verify: %v", err)
	}
	metrics = witnessMetrics(t, ctx, p.metrics)
	for _, want := range []string{
		fmt.Sprintf(`crossledger_witness_requests_total{code="200",origin=%q} 1`, s.origin),
		fmt.Sprintf(`crossledger_witness_requests_total{code="409",origin=%q} 1`, s.origin),
		fmt.Sprintf(`crossledger_witness_requests_total{code="422",origin=%q} 2`, s.origin),
		fmt.Sprintf(`crossledger_witness_cosigned_size{origin=%q} 8`, s.origin),
	} {
		if !slices.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, strings.Join(metrics, "\n"))
		}
	}
	p.stop(t)
}

// openTestLog opens a log in a temporary directory with n entries tagged
// tag.
func openTestLog(t *testing.T, ctx context.Context, skey string, n int, tag string) *merkle.Log {
	t.Helper()
	l, err := merkle.Open(ctx, t.TempDir(), merkle.Options{SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	appendTestEntries(t, ctx, l, n, tag)
	return l
}

func appendTestEntries(t *testing.T, ctx context.Context, l *merkle.Log, n int, tag string) {
	t.Helper()
	es := make([][]byte, n)
	for i := range es {
		es[i] = fmt.Appendf(nil, "%s entry %d", tag, l.Size()+uint64(i))
	}
	if _, err := l.Append(ctx, es, nil); err != nil {
		t.Fatal(err)
	}
}

var witnessClient = &http.Client{Timeout: 10 * time.Second}

func addCheckpoint(t *testing.T, ctx context.Context, addr string, req witness.AddCheckpoint) (int, string, http.Header) {
	t.Helper()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/add-checkpoint", bytes.NewReader(req.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	return witnessDo(t, r)
}

func witnessGet(t *testing.T, ctx context.Context, addr, path string) (int, string, http.Header) {
	t.Helper()
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return witnessDo(t, r)
}

func witnessDo(t *testing.T, r *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := witnessClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// witnessMetrics returns the crossledger_witness_* sample lines of /metrics.
func witnessMetrics(t *testing.T, ctx context.Context, addr string) []string {
	t.Helper()
	code, body, _ := witnessGet(t, ctx, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %q", code, body)
	}
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "crossledger_witness_") {
			out = append(out, l)
		}
	}
	return out
}

// TestVerifyPolicy: a saved answer whose proof's checkpoint carries the
// cosignatures of two of three department witnesses verifies under a
// 2-of-3 policy, naming them; a policy that needs the third fails (exit
// 1) on the quorum; without --policy the cosignatures are not required.
func TestVerifyPolicy(t *testing.T) {
	ctx := context.Background()
	f := newVerifyFixture(t)
	skey, err := keyfile.Read(filepath.Join(f.data, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := merkle.Open(ctx, filepath.Join(f.data, "log"), merkle.Options{SignerKey: skey, Witnessed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	uncosigned := f.write(t) // its proof's checkpoint is signed by the log alone
	head := l.Head()
	origin := f.vkey[:strings.IndexByte(f.vkey, '+')]

	depts := []string{"civil-affairs", "tax", "electricity"}
	vkeys := map[string]string{}
	var lines [][]byte
	for i, d := range depts {
		wskey, wvkey, err := witness.GenerateKey(d + ".example/witness")
		if err != nil {
			t.Fatal(err)
		}
		vkeys[d] = wvkey
		if i == 2 {
			continue // electricity's witness does not cosign
		}
		signer, err := witness.NewSigner(wskey)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := witness.NewServer(signer, []witness.LogConfig{{Origin: origin, VKeys: []string{f.vkey}}}, t.TempDir(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/add-checkpoint", bytes.NewReader(witness.AddCheckpoint{Checkpoint: head}.Encode())))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s witness: %d %q", d, rec.Code, rec.Body)
		}
		lines = append(lines, rec.Body.Bytes())
	}
	cosigned, err := witness.Merge(head, lines...)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx, cosigned); err != nil {
		t.Fatal(err)
	}
	p, err := l.ProofBundle(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(p.Encode(), lines[0]) || !bytes.Contains(p.Encode(), lines[1]) {
		t.Fatalf("the proof's checkpoint lacks the cosignatures:\n%s", p.Encode())
	}
	f.record["proof"] = string(p.Encode())
	resp := f.write(t)

	policy := func(quorum string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "log %s\n", f.vkey)
		for _, d := range depts {
			fmt.Fprintf(&b, "witness %s %s\n", d, vkeys[d])
		}
		b.WriteString(quorum)
		name := filepath.Join(t.TempDir(), "policy")
		if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	for _, tc := range []struct {
		name, quorum string
		code         int
		want         []string // in stdout
		notWant      string
	}{
		{"2 of 3", "group departments 2 civil-affairs tax electricity\nquorum departments\n", 0,
			[]string{"checkpoint: " + origin + " size 4 root ", ", cosigned by civil-affairs, tax\n", "ok: every record"}, "FAIL"},
		{"tax alone", "quorum tax\n", 0, []string{", cosigned by civil-affairs, tax\n", "ok: every record"}, "FAIL"},
		{"all three", "group departments all civil-affairs tax electricity\nquorum departments\n", 1,
			[]string{"FAIL data.record.proof: ", "quorum", `"departments"`, "cosigned by civil-affairs, tax"}, "ok: every record"},
		{"electricity", "quorum electricity\n", 1, []string{"FAIL data.record.proof: ", "quorum", `"electricity"`}, "ok: every record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "verify", resp, "--log-key", f.vkey, "--policy", policy(tc.quorum))
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, tc.notWant) {
				t.Errorf("output has %q:\n%s", tc.notWant, out)
			}
			if tc.code == 1 && !strings.Contains(errOut, "does not verify: 1 failure") {
				t.Errorf("stderr: %s", errOut)
			}
		})
	}

	// Without --policy the cosignatures are neither needed nor reported.
	if code, out, errOut := runCLI(t, "verify", resp, "--log-key", f.vkey); code != 0 || strings.Contains(out, "cosigned by") {
		t.Errorf("without --policy: exit %d\n%s%s", code, out, errOut)
	}
	// The same answer before the witnesses cosigned fails the policy.
	if code, out, _ := runCLI(t, "verify", uncosigned, "--log-key", f.vkey, "--policy", policy("quorum tax\n")); code != 1 ||
		!strings.Contains(out, "FAIL data.record.proof: ") || !strings.Contains(out, "cosigned by no known witness") {
		t.Errorf("the uncosigned answer under a policy: exit %d\n%s", code, out)
	}
	// A policy that does not parse, or is missing, is an error naming it.
	badPolicy := filepath.Join(t.TempDir(), "bad-policy")
	if err := os.WriteFile(badPolicy, []byte("log "+f.vkey+"\nquorum nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "verify", resp, "--log-key", f.vkey, "--policy", badPolicy); code != 1 || !strings.Contains(errOut, badPolicy+": ") || !strings.Contains(errOut, "policy line 2") {
		t.Errorf("unparsable policy: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "verify", resp, "--log-key", f.vkey, "--policy", filepath.Join(t.TempDir(), "none")); code != 1 || !strings.Contains(errOut, "couldn't read the policy") {
		t.Errorf("missing policy: exit %d, %q", code, errOut)
	}
}
