// Package faultstore wraps a [merkle.Storage] to inject the failures a log
// must survive: a mutation that fails and did not happen, one that fails
// but did happen, a torn write, and a crash after which nothing reaches the
// disk. Tests run a workload, then reopen the directory with the plain
// storage and check what survived.
package faultstore

import (
	"errors"
	"fmt"
	"sync"

	"github.com/crossledger/crossledger/merkle"
)

// Mode is how the chosen operation fails.
type Mode int

const (
	// FailNotPersisted returns an error without performing the operation.
	FailNotPersisted Mode = iota
	// FailPersisted performs the operation, then returns an error.
	FailPersisted
	// Torn writes the first half of the data (WriteFile, AppendSync), then
	// crashes. Other operations crash without taking effect.
	Torn
	// Crash fails the operation and every later one, reads included, as if
	// the process had died.
	Crash
)

func (m Mode) String() string {
	return [...]string{"fail-not-persisted", "fail-persisted", "torn", "crash"}[m]
}

var (
	// ErrInjected is the error of an injected failure.
	ErrInjected = errors.New("faultstore: injected failure")
	// ErrCrashed is returned by every call after a crash.
	ErrCrashed = errors.New("faultstore: crashed")
)

// Store is a fault-injecting merkle.Storage.
type Store struct {
	inner merkle.Storage

	mu      sync.Mutex
	ops     int // mutations seen
	failAt  int // 1-based mutation to fail; 0 never
	mode    Mode
	crashed bool
	trace   []string
}

var _ merkle.Storage = (*Store)(nil)

// New wraps inner; no fault is armed.
func New(inner merkle.Storage) *Store { return &Store{inner: inner} }

// FailAt arms a fault at the n-th mutation from now (1 = the next one).
func (s *Store) FailAt(n int, m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAt, s.mode, s.ops = n, m, 0
}

// Ops returns the number of mutations since New or the last FailAt.
func (s *Store) Ops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops
}

// Trace returns the mutations seen, as "op name" strings.
func (s *Store) Trace() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.trace...)
}

// mutate runs a mutation under the armed fault. half, if non-nil, performs
// a torn version of it.
func (s *Store) mutate(op, name string, do func() error, half func() error) error {
	s.mu.Lock()
	if s.crashed {
		s.mu.Unlock()
		return fmt.Errorf("%s %s: %w", op, name, ErrCrashed)
	}
	s.ops++
	s.trace = append(s.trace, op+" "+name)
	hit := s.failAt != 0 && s.ops == s.failAt
	mode := s.mode
	if hit && (mode == Crash || mode == Torn) {
		s.crashed = true
	}
	s.mu.Unlock()
	if !hit {
		return do()
	}
	switch mode {
	case FailPersisted:
		if err := do(); err != nil {
			return err
		}
	case Torn:
		if half != nil {
			if err := half(); err != nil {
				return err
			}
		}
		return fmt.Errorf("%s %s: %w", op, name, ErrCrashed)
	case Crash:
		return fmt.Errorf("%s %s: %w", op, name, ErrCrashed)
	}
	return fmt.Errorf("%s %s: %w", op, name, ErrInjected)
}

func (s *Store) read() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		return ErrCrashed
	}
	return nil
}

func (s *Store) ReadFile(name string) ([]byte, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	return s.inner.ReadFile(name)
}

func (s *Store) ReadDir(dir string) ([]string, error) {
	if err := s.read(); err != nil {
		return nil, err
	}
	return s.inner.ReadDir(dir)
}

func (s *Store) WriteFile(name string, data []byte) error {
	return s.mutate("write", name,
		func() error { return s.inner.WriteFile(name, data) },
		func() error { return s.inner.WriteFile(name, data[:len(data)/2]) })
}

func (s *Store) AppendSync(name string, data []byte) error {
	return s.mutate("append", name,
		func() error { return s.inner.AppendSync(name, data) },
		func() error { return s.inner.AppendSync(name, data[:len(data)/2]) })
}

func (s *Store) Sync(name string) error {
	return s.mutate("sync", name, func() error { return s.inner.Sync(name) }, nil)
}

func (s *Store) SyncDir(dir string) error {
	return s.mutate("syncdir", dir, func() error { return s.inner.SyncDir(dir) }, nil)
}

func (s *Store) SyncAll() error {
	return s.mutate("syncall", ".", func() error { return s.inner.SyncAll() }, nil)
}

func (s *Store) Rename(oldname, newname string) error {
	return s.mutate("rename", oldname+" "+newname, func() error { return s.inner.Rename(oldname, newname) }, nil)
}

func (s *Store) Remove(name string) error {
	return s.mutate("remove", name, func() error { return s.inner.Remove(name) }, nil)
}

func (s *Store) RemoveAll(name string) error {
	return s.mutate("removeall", name, func() error { return s.inner.RemoveAll(name) }, nil)
}

func (s *Store) Truncate(name string, size int64) error {
	return s.mutate("truncate", name, func() error { return s.inner.Truncate(name, size) }, nil)
}
