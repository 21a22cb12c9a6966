package merkle_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crossledger/crossledger/merkle"
)

const crashEnv = "MERKLE_CRASH_CHILD_DIR"

// TestCrash runs a child process (this test binary, re-executed) that
// appends batches in a loop, SIGKILLs it at a random moment, and checks the
// log after each of 50 kills: it opens, its checkpoint verifies, the tree
// recomputed from the entry bundles equals the checkpoint, and every batch
// whose Append returned (reported by the child before the kill) is there
// exactly once, as is every batch the committed state counts.
func TestCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in child")
	}
	ctx := context.Background()
	rng := newRand(t)
	dir := t.TempDir()
	report := filepath.Join(t.TempDir(), "returned")
	_, v := testKey(t)
	kills := 50
	for run := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, "MERKLE_CRASH_REPORT="+report,
			fmt.Sprintf("MERKLE_CRASH_SEED=%d", rng.Uint64()))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.Contains(sc.Text(), "child: appending") {
		}
		time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		go func() {
			for sc.Scan() {
			}
		}()
		cmd.Wait()

		l := openLog(t, dir, merkle.Options{})
		if _, _, err := merkle.ParseCheckpoint(l.Checkpoint(), v); err != nil {
			t.Fatalf("run %d: checkpoint: %v", run, err)
		}
		if err := l.Verify(ctx); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		committed, _ := strconv.ParseUint(string(l.State()), 10, 64)
		seen := map[uint64]int{}
		if l.Size() > 0 {
			es, err := l.Entries(ctx, 0, l.Size())
			if err != nil {
				t.Fatal(err)
			}
			var prev uint64
			for i, e := range es {
				var id, k, n uint64
				if _, err := fmt.Sscanf(string(e), "batch %d entry %d/%d", &id, &k, &n); err != nil {
					t.Fatalf("run %d: entry %d = %q", run, i, e)
				}
				if k == 0 {
					if id != prev+1 {
						t.Fatalf("run %d: batch %d follows batch %d", run, id, prev)
					}
					seen[id]++
					prev = id
				} else if id != prev {
					t.Fatalf("run %d: entry %d of batch %d inside batch %d", run, k, id, prev)
				}
				if i == len(es)-1 && k != n-1 {
					t.Fatalf("run %d: last batch %d incomplete", run, id)
				}
			}
			if prev != committed {
				t.Fatalf("run %d: last batch in log %d, state says %d", run, prev, committed)
			}
		}
		data, _ := os.ReadFile(report)
		for _, line := range strings.Fields(string(data)) {
			id, _ := strconv.ParseUint(line, 10, 64)
			if seen[id] != 1 {
				t.Fatalf("run %d: batch %d returned from Append but appears %d times", run, id, seen[id])
			}
		}
		l.Close()
		if run == kills-1 {
			t.Logf("%d kills, final size %d, %d batches, %d reported returned", kills, l.Size(), committed, len(strings.Fields(string(data))))
		}
	}
}

// TestCrashChild is the child of TestCrash; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("only run by TestCrash")
	}
	seed, _ := strconv.ParseUint(os.Getenv("MERKLE_CRASH_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 2))
	report, err := os.OpenFile(os.Getenv("MERKLE_CRASH_REPORT"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	skey, _ := testKey(t)
	l, err := merkle.Open(context.Background(), dir, merkle.Options{
		SignerKey: skey, WaitForLock: true, JournalLimit: 1 << (12 + rng.IntN(6)),
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("child: appending")
	os.Stdout.Sync()
	for {
		last, _ := strconv.ParseUint(string(l.State()), 10, 64)
		id := last + 1
		n := 1 + rng.IntN(40)
		if rng.IntN(10) == 0 {
			n = 300 + rng.IntN(300) // crosses tile boundaries
		}
		batch := make([][]byte, n)
		for k := range batch {
			batch[k] = fmt.Appendf(nil, "batch %d entry %d/%d", id, k, n)
		}
		if _, err := l.Append(context.Background(), batch, []byte(strconv.FormatUint(id, 10))); err != nil {
			if errors.Is(err, merkle.ErrPoisoned) {
				t.Fatal(err)
			}
			t.Fatal(err)
		}
		if _, err := fmt.Fprintln(report, id); err != nil {
			t.Fatal(err)
		}
	}
}
