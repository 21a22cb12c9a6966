package atomicfile_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/crossledger/crossledger/internal/atomicfile"
)

// temps lists the temporary files beside name.
func temps(t *testing.T, name string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWriteNewNeverOverwrites(t *testing.T) {
	name := filepath.Join(t.TempDir(), "log.key")
	if err := atomicfile.WriteNew(name, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteNew(name, []byte("second\n"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteNew: %v, want an error matching fs.ErrExist", err)
	}
	b, err := os.ReadFile(name)
	if err != nil || string(b) != "first\n" {
		t.Fatalf("file holds %q, %v; want the first write", b, err)
	}
	if st, _ := os.Stat(name); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if ts := temps(t, name); len(ts) != 0 {
		t.Errorf("temporary files left: %v", ts)
	}
}

func TestCreateNewWriteFails(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ledger.secret")
	boom := errors.New("boom")
	err := atomicfile.CreateNew(name, 0o600, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("CreateNew: %v, want the write's error", err)
	}
	if _, err := os.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed write left %s (%v)", name, err)
	}
	if ts := temps(t, name); len(ts) != 0 {
		t.Errorf("temporary files left: %v", ts)
	}
}

const (
	envChild = "ATOMICFILE_TEST_CHILD" // the file the child writes
	envStage = "ATOMICFILE_TEST_STAGE" // where it is killed: created or written
)

// TestChild is the writer of TestKilledWriterLeavesNoHalfFile, skipped
// unless that test started it: it creates the file and SIGKILLs itself
// with the temporary file just created (empty) or written but not synced
// and linked.
func TestChild(t *testing.T) {
	name := os.Getenv(envChild)
	if name == "" {
		t.Skip("the child process of TestKilledWriterLeavesNoHalfFile")
	}
	die := func() {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	}
	atomicfile.CreateNew(name, 0o600, func(w io.Writer) error {
		if os.Getenv(envStage) == "created" {
			die()
		}
		w.Write([]byte("the whole key\n"))
		die()
		return nil
	})
	os.Exit(3)
}

// TestKilledWriterLeavesNoHalfFile kills a writer (a child process)
// between creating the file and writing it, and between writing and
// finishing: the file does not exist, only a temporary file does, and the
// next CreateNew removes it and succeeds.
func TestKilledWriterLeavesNoHalfFile(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("inside the child")
	}
	for _, stage := range []string{"created", "written"} {
		t.Run(stage, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "log.key")
			cmd := exec.Command(os.Args[0], "-test.run=^TestChild$")
			cmd.Env = append(os.Environ(), envChild+"="+name, envStage+"="+stage)
			out, err := cmd.CombinedOutput()
			if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
				t.Fatalf("child not killed: %v, %v: %s", cmd.ProcessState, err, out)
			}
			if _, err := os.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
				b, _ := os.ReadFile(name)
				t.Fatalf("the killed writer left %s holding %q (%v)", name, b, err)
			}
			if ts := temps(t, name); len(ts) != 1 {
				t.Fatalf("temporary files after the kill: %v, want the writer's one", ts)
			}
			if err := atomicfile.WriteNew(name, []byte("next start\n"), 0o600); err != nil {
				t.Fatalf("next write: %v", err)
			}
			if b, err := os.ReadFile(name); err != nil || string(b) != "next start\n" {
				t.Fatalf("file holds %q, %v", b, err)
			}
			if ts := temps(t, name); len(ts) != 0 {
				t.Errorf("the dead writer's temporary file is still there: %v", ts)
			}
		})
	}
}

// TestRemoveTemps: a dead writer's temporary files go (here one left
// between the link and its removal, a second name of the complete file,
// and an empty one that CreateNew removes before writing); a running
// writer's stays.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "log.key")
	if err := atomicfile.WriteNew(name, []byte("key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, ".log.key.tmp-123")
	if err := os.Link(name, stale); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, ".ledger.secret.tmp-456")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := atomicfile.RemoveTemps(name)
	if err != nil || len(removed) != 1 || removed[0] != stale {
		t.Fatalf("RemoveTemps = %v, %v; want [%s]", removed, err, stale)
	}
	if b, err := os.ReadFile(name); err != nil || string(b) != "key\n" {
		t.Fatalf("file holds %q, %v after RemoveTemps", b, err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("RemoveTemps removed another file's temporary file: %v", err)
	}

	running := filepath.Join(dir, "ledger.secret")
	err = atomicfile.CreateNew(running, 0o600, func(w io.Writer) error {
		w.Write([]byte("secret\n"))
		if removed, err := atomicfile.RemoveTemps(running); err != nil || len(removed) != 0 {
			t.Errorf("RemoveTemps during a write = %v, %v; want the running writer's file kept", removed, err)
		}
		if ts := temps(t, running); len(ts) != 1 {
			t.Errorf("temporary files during the write: %v, want the writer's", ts)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(running); err != nil || !bytes.Equal(b, []byte("secret\n")) {
		t.Fatalf("file holds %q, %v", b, err)
	}
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CreateNew left a dead writer's temporary file %s (%v)", other, err)
	}
}

func TestReplace(t *testing.T) {
	name := filepath.Join(t.TempDir(), "state")
	for _, data := range []string{"one", "two, longer", "3"} {
		if err := atomicfile.Replace(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != data {
			t.Fatalf("after Replace(%q): %q, %v", data, got, err)
		}
		if left := temps(t, name); len(left) != 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	}
	fi, err := os.Stat(name)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if err := atomicfile.Replace(filepath.Join(name, "sub"), []byte("x"), 0o600); err == nil {
		t.Fatal("Replace under a regular file succeeded")
	}
}
