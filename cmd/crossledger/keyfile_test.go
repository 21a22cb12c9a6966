package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle"
)

// The key-file kill test re-executes the test binary as `crossledger dev`
// on its first start; these environment variables switch the child on and
// say where to kill it.
const (
	envKeyKillData  = "CROSSLEDGER_KEYKILL_DATA"  // the data directory
	envKeyKillFile  = "CROSSLEDGER_KEYKILL_FILE"  // log.key or ledger.secret
	envKeyKillStage = "CROSSLEDGER_KEYKILL_STAGE" // created or written (see keyWriteFault)
)

// keyKillArgs are the dev runs of these tests: a small data set, no update
// stream, free ports, frequent progress lines.
func keyKillArgs(data string) []string {
	return []string{"dev", "--data", data, "--broker", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--rate", "0", "--citizens", "2", "--progress", "50ms"}
}

// devUp matches a progress line of a dev whose ingest has logged something.
var devUp = regexp.MustCompile(`progress: log [1-9]`)

// keyKillChild is the dev process of
// [TestDevStartsAfterKillDuringKeyWrite], run by TestMain when that test
// re-runs the test binary with envKeyKillData set: dev's first start,
// SIGKILLed while it writes the key file named by CROSSLEDGER_KEYKILL_FILE,
// at CROSSLEDGER_KEYKILL_STAGE.
func keyKillChild(data string) int {
	keyfile.Fault = func(name, stage string) {
		if filepath.Base(name) == os.Getenv(envKeyKillFile) && stage == os.Getenv(envKeyKillStage) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := &cliEnv{stdout: os.Stderr, stderr: os.Stderr, logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	code := run(ctx, env, keyKillArgs(data))
	os.Stderr.WriteString("dev ran to the end without writing the key file\n")
	return 3 + code
}

// startDev runs dev on data until it is up (ingest has logged entries),
// then stops it. It returns dev's exit code and what it printed.
func startDev(t *testing.T, data string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	env := &cliEnv{stdout: out, stderr: out, logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	done := make(chan int, 1)
	go func() { done <- run(ctx, env, keyKillArgs(data)) }()
	deadline := time.After(time.Minute)
	for {
		select {
		case code := <-done:
			return code, out.String()
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("dev not up within a minute:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
			if devUp.MatchString(out.String()) {
				cancel()
				return <-done, out.String()
			}
		}
	}
}

// keyTemps lists the temporary files beside the key file name.
func keyTemps(t *testing.T, name string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDevStartsAfterKillDuringKeyWrite kills dev's first start (a child
// process) while it writes log.key, and while it writes ledger.secret:
// once with the file just created, empty, and once with its bytes written
// but not yet synced nor in place. The kill leaves no key file — only a
// temporary one — and the next start succeeds, makes a usable key or
// secret and removes the temporary file.
func TestDevStartsAfterKillDuringKeyWrite(t *testing.T) {
	for _, file := range []string{"log.key", "ledger.secret"} {
		for _, stage := range []string{"created", "written"} {
			t.Run(file+"/"+stage, func(t *testing.T) {
				data := t.TempDir()
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), envKeyKillData+"="+data, envKeyKillFile+"="+file, envKeyKillStage+"="+stage)
				ingesttest.DieWithParent(cmd)
				out, err := cmd.CombinedOutput()
				if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
					t.Fatalf("child not killed writing %s: %v, %v:\n%s", file, cmd.ProcessState, err, out)
				}
				name := filepath.Join(data, file)
				if b, err := os.ReadFile(name); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("the kill left %s holding %q (%v): it must not exist before it is whole and synced", name, b, err)
				}
				if ts := keyTemps(t, name); len(ts) != 1 {
					t.Fatalf("temporary files of %s after the kill: %v, want the one being written", file, ts)
				}

				code, log := startDev(t, data)
				if code != 0 {
					t.Fatalf("the next start exited %d:\n%s", code, log)
				}
				if file == "log.key" {
					skey, err := keyfile.Read(name)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := merkle.NewSigner(skey); err != nil {
						t.Fatalf("the log key made by the next start: %v", err)
					}
				} else if _, err := keyfile.ReadSecret(name); err != nil {
					t.Fatalf("the secret made by the next start: %v", err)
				}
				if ts := keyTemps(t, name); len(ts) != 0 {
					t.Errorf("the next start left the dead writer's temporary file: %v", ts)
				}
			})
		}
	}
}

// TestDevReportsUnusableKeyFiles: an empty or damaged key or secret file
// (as a version that wrote key files in two steps could leave) stops dev
// with an error saying what to do; stale temporary files of a crashed
// write are removed, a fresh one of the dev issuer's key is left to its
// writer.
func TestDevReportsUnusableKeyFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // in dev's output; none: dev starts
	}{
		{"empty log key", map[string]string{"log.key": ""}, []string{"log.key is empty", "no log was made with it", "delete it and start again"}},
		{"truncated log key", map[string]string{"log.key": "PRIVATE+KEY+dev.crossledger.local/log+1a2b3c4d+AX"}, []string{"log.key is truncated or damaged", "delete it and start again"}},
		{"empty ledger secret", map[string]string{"ledger.secret": "\n"}, []string{"ledger.secret is empty", "delete it and the projection", "projection.db", "start again"}},
		{"truncated ledger secret", map[string]string{"ledger.secret": "0123456789abcdef0"}, []string{"ledger.secret is truncated or damaged", "delete it and the projection"}},
		{"temporary files", map[string]string{".log.key.tmp-123": "PRIVATE+K", ".ledger.secret.tmp-456": "", "gateway/.dev-issuer-789.pem": "-----BEGIN", "gateway/.dev-issuer.pem.tmp-999": "-----BEGIN"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			old := time.Now().Add(-time.Hour)
			for f, body := range tc.files {
				p := filepath.Join(data, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, old, old); err != nil {
					t.Fatal(err)
				}
			}
			fresh := filepath.Join(data, "gateway", ".dev-issuer-new.pem")
			if tc.want == nil {
				if err := os.WriteFile(fresh, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code, out := startDev(t, data)
			if tc.want != nil {
				if code == 0 {
					t.Fatalf("dev started on an unusable key file:\n%s", out)
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("dev's error lacks %q:\n%s", w, out)
					}
				}
				return
			}
			if code != 0 {
				t.Fatalf("dev exited %d:\n%s", code, out)
			}
			for f := range tc.files {
				if _, err := os.Lstat(filepath.Join(data, f)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the stale temporary file %s is still there (%v)", f, err)
				}
			}
			if _, err := os.Stat(fresh); err != nil {
				t.Errorf("dev removed a fresh temporary file of the issuer's key, maybe still being written: %v", err)
			}
		})
	}
}
