package ingesttest

import (
	"bufio"
	"os/exec"
	"syscall"
	"testing"
)

// StartChild starts cmd (a test binary re-run as a child process) so that
// it dies with the test, and returns its stdout lines and a channel closed
// once it has exited, reading what is left of its lines.
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

// KillChild SIGKILLs a child started by [StartChild] and waits until it
// has exited, reading what is left of its lines. A child that had exited by itself
// before the kill fails t; before says when (for the message) and stderr
// returns the child's stderr.
func KillChild(t testing.TB, cmd *exec.Cmd, lines <-chan string, exited <-chan struct{}, before string, stderr func() string) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	for range lines {
	}
	<-exited
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() {
		t.Fatalf("child exited by itself (%v) before %s; stderr:\n%s", cmd.ProcessState, before, stderr())
	}
}
