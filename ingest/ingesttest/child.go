package ingesttest

import (
	"bufio"
	"os/exec"
	"testing"
)

// StartChild starts cmd (a test binary re-run as a child process) so that
// it dies with the test, and returns its stdout lines and a channel closed
// once it has exited and every line was read.
func StartChild(t testing.TB, cmd *exec.Cmd) (lines <-chan string, exited <-chan struct{}) {
	t.Helper()
	DieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ls := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ls <- sc.Text()
		}
		close(ls)
		cmd.Wait()
		close(done)
	}()
	return ls, done
}
