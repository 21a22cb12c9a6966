package merkle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// acquireLock takes an exclusive flock on <dir>/lock. The lock belongs to
// the open file description, so it is released when the process dies,
// however it dies: a standby never waits on a dead writer.
func acquireLock(ctx context.Context, dir string, wait bool, poll time.Duration) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockPath), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("merkle: couldn't open lock file: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("merkle: couldn't lock %s: %w", dir, err)
		}
		if !wait {
			f.Close()
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("merkle: gave up waiting for lock on %s: %w", dir, ctx.Err())
		case <-t.C:
		}
	}
}

func releaseLock(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close() // closing the last descriptor drops the flock
}
