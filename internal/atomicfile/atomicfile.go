// Package atomicfile writes small files that a crash leaves either absent
// or whole — never empty, never half-written: key files, secrets. The data
// goes to a temporary file beside the target, which is fsynced, then given
// the target's name, and the directory is fsynced so that the name lasts
// too.
//
//	DIR/.NAME.tmp-RANDOM   while being written; its writer holds an flock on it
//	DIR/NAME               once complete
//
// The name is given with link(2), not rename(2): a file that exists is
// never replaced (keygen's rule: a key is never overwritten), and of two
// processes racing to create the same file one wins whole and the other
// gets an error matching [fs.ErrExist].
//
// A writer killed before the link leaves its temporary file behind (and
// one killed between the link and the removal leaves a second name of the
// complete file). Nothing reads those; [RemoveTemps] removes them, telling
// a dead writer's from a running one's by the flock, which dies with its
// process. [CreateNew] does so before writing.
//
// atomicfile imports nothing of crossledger.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// tempPattern is the os.CreateTemp pattern of name's temporary files.
func tempPattern(name string) string { return "." + filepath.Base(name) + ".tmp-*" }

// CreateNew creates the file name, with mode perm and the bytes write
// writes to it, so that after a crash at any point name either does not
// exist or holds everything write wrote. It fails, creating nothing, with
// an error matching [fs.ErrExist] if name exists, and with write's error
// if write fails. When it returns nil, name and its contents are durable.
func CreateNew(name string, perm fs.FileMode, write func(io.Writer) error) error {
	if _, err := os.Lstat(name); err == nil {
		return &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	return place(name, perm, write, func(tmp string) error {
		if err := os.Link(tmp, name); err != nil {
			return fmt.Errorf("atomicfile: couldn't create %s: %w", name, err)
		}
		return nil
	})
}

// place writes a temporary file beside name (mode perm, contents from
// write, fsynced), gives it name with put, removes the temporary name and
// fsyncs the directory. Temporary files of dead writers go first.
func place(name string, perm fs.FileMode, write func(io.Writer) error, put func(tmp string) error) error {
	if _, err := RemoveTemps(name); err != nil {
		return err
	}
	dir := filepath.Dir(name)
	f, err := createLocked(dir, tempPattern(name))
	if err != nil {
		return err
	}
	defer f.Close() // drops the flock, after the temporary file is gone
	tmp := f.Name()
	err = func() error {
		if err := f.Chmod(perm); err != nil {
			return fmt.Errorf("atomicfile: couldn't set the mode of %s: %w", tmp, err)
		}
		if err := write(f); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("atomicfile: couldn't sync %s: %w", tmp, err)
		}
		return put(tmp)
	}()
	if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = fmt.Errorf("atomicfile: couldn't remove %s: %w", tmp, rerr)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// WriteNew is [CreateNew] writing data.
func WriteNew(name string, data []byte, perm fs.FileMode) error {
	return CreateNew(name, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Replace writes data to name, replacing it if it exists, so that after a
// crash at any point name holds either its old contents or data — for
// state files, which (unlike keys) are meant to be replaced. The temporary
// file is fsynced, renamed over name, and the directory fsynced; when
// Replace returns nil, data is durable under name. Writers of one name
// must not run concurrently (the caller serialises them).
func Replace(name string, data []byte, perm fs.FileMode) error {
	write := func(w io.Writer) error {
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("atomicfile: couldn't write beside %s: %w", name, err)
		}
		return nil
	}
	return place(name, perm, write, func(tmp string) error {
		if err := os.Rename(tmp, name); err != nil {
			return fmt.Errorf("atomicfile: couldn't replace %s: %w", name, err)
		}
		return nil
	})
}

// createLocked creates a temporary file in dir and takes an exclusive
// flock on it. Between the two, RemoveTemps may take the unlocked file for
// a dead writer's and lock or remove it: then it tries again with another.
func createLocked(dir, pattern string) (*os.File, error) {
	for range 10 {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, fmt.Errorf("atomicfile: couldn't create a temporary file in %s: %w", dir, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			os.Remove(f.Name())
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue // RemoveTemps got there first
			}
			return nil, fmt.Errorf("atomicfile: couldn't lock %s: %w", f.Name(), err)
		}
		fi, ferr := f.Stat()
		pi, perr := os.Lstat(f.Name())
		if ferr == nil && perr == nil && os.SameFile(fi, pi) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("atomicfile: couldn't keep a temporary file in %s: something keeps removing them", dir)
}

// RemoveTemps removes the temporary files that writers of name killed
// before finishing left beside it, and returns their paths. A temporary
// file whose writer is still running is left alone.
func RemoveTemps(name string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(filepath.Dir(name), tempPattern(name)))
	if err != nil {
		return nil, fmt.Errorf("atomicfile: couldn't list temporary files of %s: %w", name, err)
	}
	var removed []string
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // finished or removed meanwhile
		}
		if err != nil {
			return removed, fmt.Errorf("atomicfile: couldn't open %s: %w", p, err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close() // a running writer's
			continue
		}
		if err == nil {
			err = os.Remove(p)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			} else if err == nil {
				removed = append(removed, p)
			}
		}
		f.Close()
		if err != nil {
			return removed, fmt.Errorf("atomicfile: couldn't remove %s: %w", p, err)
		}
	}
	return removed, nil
}

// syncDir fsyncs the directory dir, so that the names in it last.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: couldn't open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: couldn't sync directory %s: %w", dir, err)
	}
	return nil
}
