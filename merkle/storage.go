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

// Storage is the seam between the log and its files. Names are
// slash-separated paths relative to the log directory ("tile/0/000",
// "journal"); implementations must reject names that escape it.
//
// # Contract
//
//   - ReadFile returns the whole content, or an error wrapping
//     [fs.ErrNotExist] when there is no such file.
//   - WriteFile creates or truncates name, creating missing parent
//     directories, and writes data. Nothing is durable until Sync(name) and
//     SyncDir of every directory it created returns.
//   - AppendSync appends data to name (creating it) and returns only once the
//     data is durable (fdatasync). This is the only durable write the hot
//     path uses.
//   - Sync makes name's content durable; SyncDir makes the directory entries
//     (creates, renames, removes) of dir durable. SyncDir(".") is the root.
//   - Rename atomically replaces newname with oldname: a concurrent reader
//     sees the old or the new content, never a mix.
//   - Remove removes a file or an empty directory; RemoveAll a tree. A
//     missing name is not an error for either.
//   - SyncAll makes every completed write, rename and removal under the
//     root durable at once (syncfs on a filesystem). Compaction uses it
//     instead of one fsync per tile.
//   - Truncate shortens name to size bytes.
//   - ReadDir lists the entries of dir, sorted; subdirectories carry a
//     trailing "/". A missing dir is an empty list.
//
// A failed call may or may not have taken effect; the log treats any failed
// mutation as fatal for the Log value ([ErrPoisoned]) and recovers on the
// next Open. Reads are safe concurrently with each other and with writes to
// other names. Mutations may be concurrent, but never on the same name:
// the tile writer's WriteFiles (of distinct full tiles and bundles) overlap
// each other and the journal's AppendSync; compaction runs only once the
// tile writer is idle.
type Storage interface {
	ReadFile(name string) ([]byte, error)
	WriteFile(name string, data []byte) error
	AppendSync(name string, data []byte) error
	Sync(name string) error
	SyncDir(dir string) error
	SyncAll() error
	Rename(oldname, newname string) error
	Remove(name string) error
	RemoveAll(name string) error
	Truncate(name string, size int64) error
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
