//go:build !linux

package ingesttest

import "os/exec"

// DieWithParent does nothing outside Linux, which has no parent-death
// signal: a child of a test that dies must be stopped by hand.
func DieWithParent(cmd *exec.Cmd) {}
