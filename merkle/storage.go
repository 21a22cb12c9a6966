package merkle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Storage is the seam between the log and its files: a directory of named
// files with a single writer, the [Log] that holds the directory's writer
// lock. [DirStorage] is the filesystem implementation;
// [github.com/crossledger/crossledger/merkle/faultstore] wraps one to
// inject failures. [github.com/crossledger/crossledger/merkle/storagetest]
// is the conformance suite of this contract: every implementation runs it.
//
// # Names
//
// Names are slash-separated paths relative to the log directory
// ("tile/0/000", "journal"), valid by [fs.ValidPath]. "." is the
// directory itself: it can be listed (ReadDir) and synced (Sync, SyncDir),
// and every mutation of it fails; in particular the root is never removed.
// Any other name fs.ValidPath rejects (empty, absolute, with "." or ".."
// elements, doubled or trailing slashes) fails every method with an error
// that does not wrap [fs.ErrNotExist], and nothing is read or changed,
// inside the directory or outside it.
//
// Every method on a missing name that needs one fails with an error
// wrapping fs.ErrNotExist (see each method). No method keeps the data
// slice it is given, and the slice ReadFile returns is the caller's.
//
// # Visibility and durability
//
// A call's effect is visible to every call that starts after it returns,
// through this value or through another over the same directory (a
// reopen), durable or not. Durable means it survives a crash of the
// machine; until then a crash may undo it:
//
//   - WriteFile: nothing is durable until Sync(name) has returned and the
//     name's directory entry is durable: SyncDir of its parent and of the
//     parent of every directory WriteFile created, or SyncAll. Until then a
//     crash may leave the file missing, with its old content, or torn.
//   - AppendSync: when it returns, the file's content through the appended
//     bytes is durable, provided its directory entry already was: a file
//     that AppendSync created needs SyncDir of its parent. (The log only
//     appends to a journal published by rename.)
//   - Truncate: durable once Sync(name) returns.
//   - Rename, Remove, RemoveAll: durable once SyncDir of every parent
//     directory involved returns, or SyncAll.
//   - Sync makes name's content durable, SyncDir a directory's entries
//     (creates, renames, removals of its children, not their content), and
//     SyncAll every call under the root that returned before it.
//
// # Atomic publication
//
// WriteFile(tmp), Sync(tmp), Rename(tmp, name), SyncDir(dir of name) is
// all-or-nothing: readers of name, concurrent ones and, after a crash at
// any point, the next Open, see its previous content or the new one whole.
// The log publishes the checkpoint and replaces the journal this way.
//
// # Failures and retries
//
// A failed call may or may not have taken effect, wholly or in part: a
// failed WriteFile may leave the file torn, a failed AppendSync any prefix
// of data appended. Reads may be retried. WriteFile, Truncate, Remove,
// RemoveAll, Sync, SyncDir and SyncAll are idempotent: a successful repeat
// leaves the same content. Rename is not (once it has taken effect a
// repeat fails with fs.ErrNotExist and leaves newname alone), nor is
// AppendSync (a repeat appends again). And a durability failure is not
// mended by retrying: after a failed Sync, SyncDir, SyncAll or AppendSync
// the kernel may have dropped the unwritten pages and cleared the error,
// so a later success proves nothing about them. The Log therefore retries
// no mutation: the first failure poisons it ([ErrPoisoned]) and the next
// [Open] recovers from what is durable.
//
// # Recovery
//
// After a crash the directory holds what was durable and any part of what
// was not. Open takes the journal up to its last whole, checksummed record
// as the committed log, whose checkpoint is the published head, and
// discards or rebuilds everything past it: it removes "journal.tmp" and
// "checkpoint.tmp" (interrupted publications), truncates a torn or corrupt
// last record (an AppendSync that never returned, so an Append never
// acknowledged), rewrites from the journal every tile and bundle newer
// than the journal's base record, whatever the crash left of them, and
// republishes the checkpoint file. That file may lag the journal, never
// lead it: one ahead means durable data was lost, and fails Open with a
// [*CorruptError]. So an implementation must keep every durable byte and
// may lose or tear anything else.
//
// # Concurrency
//
// A Storage is called from several goroutines at once. ReadFile and
// ReadDir are safe concurrently with each other and with mutations of
// other names; a ReadDir concurrent with creations in its directory lists
// each new entry or not. A ReadFile concurrent with a Rename onto an
// existing name returns the old content or the new, whole, never an
// error, and once the Rename has returned only the new; concurrent
// with a WriteFile, AppendSync or Truncate of its name it may return
// anything, and the log never does that. Mutations may run concurrently
// on distinct names, including WriteFiles that create the same missing
// parent directories: the tile writer's WriteFiles (of distinct full tiles
// and bundles) overlap each other and the journal's AppendSync.
// Compaction's writes, renames, removals and SyncAll run only while the
// tile writer is idle. Two mutations of the same name never overlap.
type Storage interface {
	// ReadFile returns the whole content of name, or an error wrapping
	// fs.ErrNotExist when there is no such file.
	ReadFile(name string) ([]byte, error)

	// WriteFile creates name, or truncates it if it exists, creating
	// missing parent directories, and writes data.
	WriteFile(name string, data []byte) error

	// AppendSync appends data to name, creating the file (its parent
	// directory must exist, or the error wraps fs.ErrNotExist), and returns
	// once the data is durable (fdatasync). It is the only durable write on
	// the log's hot path.
	AppendSync(name string, data []byte) error

	// Sync makes name's content durable. A missing name is an error
	// wrapping fs.ErrNotExist.
	Sync(name string) error

	// SyncDir makes the entries of directory dir durable; SyncDir(".") is
	// the root. A missing dir is an error wrapping fs.ErrNotExist.
	SyncDir(dir string) error

	// SyncAll makes every call under the root that returned before it
	// durable at once (syncfs on a filesystem): compaction uses it instead
	// of one fsync per tile.
	SyncAll() error

	// Rename replaces the file newname with the file oldname, atomically
	// for readers of newname (see Concurrency). A missing oldname or
	// parent directory of newname is an error wrapping fs.ErrNotExist.
	Rename(oldname, newname string) error

	// Remove removes a file or an empty directory; a non-empty directory
	// is an error and stays as it was. A missing name is not an error.
	Remove(name string) error

	// RemoveAll removes name and, if it is a directory, everything under
	// it. A missing name is not an error.
	RemoveAll(name string) error

	// Truncate shortens name to size bytes, at most its current length. A
	// missing name is an error wrapping fs.ErrNotExist.
	Truncate(name string, size int64) error

	// ReadDir lists the entries of directory dir, sorted bytewise with
	// subdirectories carrying a trailing "/" (which takes part in the
	// order: "a.b" < "a/" < "a0"). A missing dir is an empty list, not an
	// error.
	ReadDir(dir string) ([]string, error)
}

// DirStorage is the filesystem [Storage] rooted at a directory.
type DirStorage struct {
	root string
}

// NewDirStorage returns a Storage for the files under dir.
func NewDirStorage(dir string) *DirStorage { return &DirStorage{root: dir} }

func (d *DirStorage) path(name string) (string, error) {
	if name == "." {
		return d.root, nil
	}
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("merkle: invalid storage name %q", name)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func (d *DirStorage) ReadFile(name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func (d *DirStorage) WriteFile(name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *DirStorage) AppendSync(name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *DirStorage) Sync(name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *DirStorage) SyncDir(dir string) error { return d.Sync(dir) }

func (d *DirStorage) SyncAll() error {
	f, err := os.Open(d.root)
	if err != nil {
		return err
	}
	err = syncfs(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (d *DirStorage) Rename(oldname, newname string) error {
	o, err := d.path(oldname)
	if err != nil {
		return err
	}
	n, err := d.path(newname)
	if err != nil {
		return err
	}
	return os.Rename(o, n)
}

func (d *DirStorage) Remove(name string) error {
	if name == "." {
		return errors.New("merkle: refusing to remove the log root")
	}
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d *DirStorage) RemoveAll(name string) error {
	if name == "." {
		return errors.New("merkle: refusing to remove the log root")
	}
	p, err := d.path(name)
	if err != nil {
		return err
	}
	return os.RemoveAll(p)
}

func (d *DirStorage) Truncate(name string, size int64) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	return os.Truncate(p, size)
}

func (d *DirStorage) ReadDir(dir string) ([]string, error) {
	p, err := d.path(dir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
		if e.IsDir() {
			names[i] += "/"
		}
	}
	sort.Strings(names)
	return names, nil
}

// walkFiles lists every file under dir (recursively) as slash-separated
// names relative to the storage root.
func walkFiles(st Storage, dir string) ([]string, error) {
	names, err := st.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if sub, ok := strings.CutSuffix(n, "/"); ok {
			more, err := walkFiles(st, dir+"/"+sub)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		out = append(out, dir+"/"+n)
	}
	return out, nil
}
