package storagetest_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/storagetest"
)

const mutantEnv = "STORAGETEST_MUTANT"

// mutant is a DirStorage with one rule of the contract broken, and the
// subtest of Run that must catch it.
type mutant struct {
	name    string
	catches string
	open    func(t *testing.T, dir string) merkle.Storage
}

// broken overrides some methods of a DirStorage.
type broken struct {
	merkle.Storage
	dir        string
	readFile   func(name string) ([]byte, error)
	writeFile  func(name string, data []byte) error
	appendSync func(name string, data []byte) error
	syncDir    func(dir string) error
	syncAll    func() error
	rename     func(oldname, newname string) error
	remove     func(name string) error
	removeAll  func(name string) error
	truncate   func(name string, size int64) error
	readDir    func(dir string) ([]string, error)
}

func (b *broken) ReadFile(name string) ([]byte, error) {
	if b.readFile != nil {
		return b.readFile(name)
	}
	return b.Storage.ReadFile(name)
}

func (b *broken) WriteFile(name string, data []byte) error {
	if b.writeFile != nil {
		return b.writeFile(name, data)
	}
	return b.Storage.WriteFile(name, data)
}

func (b *broken) AppendSync(name string, data []byte) error {
	if b.appendSync != nil {
		return b.appendSync(name, data)
	}
	return b.Storage.AppendSync(name, data)
}

func (b *broken) SyncDir(dir string) error {
	if b.syncDir != nil {
		return b.syncDir(dir)
	}
	return b.Storage.SyncDir(dir)
}

func (b *broken) SyncAll() error {
	if b.syncAll != nil {
		return b.syncAll()
	}
	return b.Storage.SyncAll()
}

func (b *broken) Rename(oldname, newname string) error {
	if b.rename != nil {
		return b.rename(oldname, newname)
	}
	return b.Storage.Rename(oldname, newname)
}

func (b *broken) Remove(name string) error {
	if b.remove != nil {
		return b.remove(name)
	}
	return b.Storage.Remove(name)
}

func (b *broken) RemoveAll(name string) error {
	if b.removeAll != nil {
		return b.removeAll(name)
	}
	return b.Storage.RemoveAll(name)
}

func (b *broken) Truncate(name string, size int64) error {
	if b.truncate != nil {
		return b.truncate(name, size)
	}
	return b.Storage.Truncate(name, size)
}

func (b *broken) ReadDir(dir string) ([]string, error) {
	if b.readDir != nil {
		return b.readDir(dir)
	}
	return b.Storage.ReadDir(dir)
}

// breaking returns an opener of a DirStorage that break modifies.
func breaking(brk func(b *broken, inner merkle.Storage)) func(*testing.T, string) merkle.Storage {
	return func(t *testing.T, dir string) merkle.Storage {
		inner := merkle.NewDirStorage(dir)
		b := &broken{Storage: inner, dir: dir}
		brk(b, inner)
		return b
	}
}

func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
	return err == nil
}

var mutants = []mutant{
	{"missing file is a plain error", "Missing", breaking(func(b *broken, in merkle.Storage) {
		b.readFile = func(name string) ([]byte, error) {
			data, err := in.ReadFile(name)
			if errors.Is(err, fs.ErrNotExist) {
				err = errors.New("no such file")
			}
			return data, err
		}
	})},
	{"WriteFile keeps the old tail", "Overwrite", breaking(func(b *broken, in merkle.Storage) {
		b.writeFile = func(name string, data []byte) error {
			if old, err := in.ReadFile(name); err == nil && len(old) > len(data) {
				data = append(slices.Clone(data), old[len(data):]...)
			}
			return in.WriteFile(name, data)
		}
	})},
	{"WriteFile creates no parents", "ReadWrite", breaking(func(b *broken, in merkle.Storage) {
		b.writeFile = func(name string, data []byte) error {
			if d := path.Dir(name); d != "." && !exists(b.dir, d) {
				return fmt.Errorf("%s: %w", d, fs.ErrNotExist)
			}
			return in.WriteFile(name, data)
		}
	})},
	{"parents created racily", "ConcurrentWrites", breaking(func(b *broken, in merkle.Storage) {
		b.writeFile = func(name string, data []byte) error {
			var missing []string
			for d := path.Dir(name); d != "." && !exists(b.dir, d); d = path.Dir(d) {
				missing = append(missing, d)
			}
			time.Sleep(time.Millisecond) // let a concurrent writer see them missing too
			for _, d := range slices.Backward(missing) {
				if err := os.Mkdir(filepath.Join(b.dir, d), 0o755); err != nil {
					return err // EEXIST when another WriteFile won
				}
			}
			return in.WriteFile(name, data)
		}
	})},
	{"WriteFile aliases its data", "NoAliasing", func(t *testing.T, dir string) merkle.Storage {
		in := merkle.NewDirStorage(dir)
		var mu sync.Mutex
		cache := map[string][]byte{}
		reset := func() { mu.Lock(); cache = map[string][]byte{}; mu.Unlock() }
		b := &broken{Storage: in, dir: dir}
		b.writeFile = func(name string, data []byte) error {
			mu.Lock()
			cache[name] = data
			mu.Unlock()
			return in.WriteFile(name, data)
		}
		b.readFile = func(name string) ([]byte, error) {
			mu.Lock()
			data, ok := cache[name]
			mu.Unlock()
			if ok {
				return data, nil
			}
			return in.ReadFile(name)
		}
		b.appendSync = func(name string, data []byte) error { reset(); return in.AppendSync(name, data) }
		b.rename = func(o, n string) error { reset(); return in.Rename(o, n) }
		b.remove = func(name string) error { reset(); return in.Remove(name) }
		b.removeAll = func(name string) error { reset(); return in.RemoveAll(name) }
		b.truncate = func(name string, size int64) error { reset(); return in.Truncate(name, size) }
		return b
	}},
	{"AppendSync overwrites", "AppendSync", breaking(func(b *broken, in merkle.Storage) {
		b.appendSync = func(name string, data []byte) error {
			if err := in.WriteFile(name, data); err != nil {
				return err
			}
			return in.Sync(name)
		}
	})},
	{"Truncate ignored", "Truncate", breaking(func(b *broken, in merkle.Storage) {
		b.truncate = func(name string, size int64) error {
			_, err := in.ReadFile(name)
			return err
		}
	})},
	{"Rename copies", "Rename", breaking(func(b *broken, in merkle.Storage) {
		b.rename = func(o, n string) error {
			data, err := in.ReadFile(o)
			if err != nil {
				return err
			}
			return in.WriteFile(n, data)
		}
	})},
	{"Rename rewrites in place", "ConcurrentReads", breaking(func(b *broken, in merkle.Storage) {
		b.rename = func(o, n string) error {
			data, err := in.ReadFile(o)
			if err != nil {
				return in.Rename(o, n)
			}
			if err := in.WriteFile(n, data[:len(data)/2]); err != nil {
				return err
			}
			time.Sleep(200 * time.Microsecond)
			if err := in.WriteFile(n, data); err != nil {
				return err
			}
			return in.Remove(o)
		}
	})},
	{"repeated Rename succeeds", "Idempotent", breaking(func(b *broken, in merkle.Storage) {
		b.rename = func(o, n string) error {
			if err := in.Rename(o, n); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
	})},
	{"Remove of a missing name fails", "Missing", breaking(func(b *broken, in merkle.Storage) {
		b.remove = func(name string) error {
			if _, err := os.Lstat(filepath.Join(b.dir, filepath.FromSlash(name))); err != nil {
				return err
			}
			return in.Remove(name)
		}
	})},
	{"Remove is recursive", "Remove", breaking(func(b *broken, in merkle.Storage) {
		b.remove = func(name string) error { return in.RemoveAll(name) }
	})},
	{"Remove takes an empty root", "Root", breaking(func(b *broken, in merkle.Storage) {
		b.remove = func(name string) error {
			if name == "." {
				return os.Remove(b.dir)
			}
			return in.Remove(name)
		}
	})},
	{"RemoveAll only removes empty directories", "RemoveAll", breaking(func(b *broken, in merkle.Storage) {
		b.removeAll = func(name string) error { return in.Remove(name) }
	})},
	{"ReadDir unsorted", "ReadDir", breaking(func(b *broken, in merkle.Storage) {
		b.readDir = func(dir string) ([]string, error) {
			names, err := in.ReadDir(dir)
			slices.SortFunc(names, func(x, y string) int {
				return strings.Compare(strings.TrimSuffix(x, "/"), strings.TrimSuffix(y, "/"))
			})
			return names, err
		}
	})},
	{"ReadDir without slashes", "ReadDir", breaking(func(b *broken, in merkle.Storage) {
		b.readDir = func(dir string) ([]string, error) {
			names, err := in.ReadDir(dir)
			for i, n := range names {
				names[i] = strings.TrimSuffix(n, "/")
			}
			return names, err
		}
	})},
	{"ReadDir of a missing dir fails", "Missing", breaking(func(b *broken, in merkle.Storage) {
		b.readDir = func(dir string) ([]string, error) {
			if !exists(b.dir, dir) {
				return nil, fmt.Errorf("%s: %w", dir, fs.ErrNotExist)
			}
			return in.ReadDir(dir)
		}
	})},
	{"SyncDir of a missing dir succeeds", "Missing", breaking(func(b *broken, in merkle.Storage) {
		b.syncDir = func(dir string) error {
			if !exists(b.dir, dir) {
				return nil
			}
			return in.SyncDir(dir)
		}
	})},
	{"SyncAll fails", "Sync", breaking(func(b *broken, in merkle.Storage) {
		b.syncAll = func() error { return errors.New("syncfs: input/output error") }
	})},
	{"unclean names accepted", "InvalidNames", breaking(func(b *broken, in merkle.Storage) {
		clean := func(name string) string {
			name = strings.TrimLeft(path.Clean("/"+name), "/")
			if name == "" {
				return "."
			}
			return name
		}
		b.readFile = func(name string) ([]byte, error) { return in.ReadFile(clean(name)) }
		b.writeFile = func(name string, data []byte) error { return in.WriteFile(clean(name), data) }
	})},
	{"reopen forgets", "Reopen", func(t *testing.T, dir string) merkle.Storage {
		return merkle.NewDirStorage(t.TempDir()) // a new directory on each open
	}},
	{"reopen forgets", "Publish", func(t *testing.T, dir string) merkle.Storage {
		return merkle.NewDirStorage(t.TempDir())
	}},
}

// TestRunCatches runs the suite against storages that each break one rule
// and requires the subtest for that rule to fail: no check of the suite
// that these mutants exercise passes whatever the storage does.
func TestRunCatches(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("in child")
	}
	if testing.Short() {
		t.Skip("runs the suite once per mutant")
	}
	for i, m := range mutants {
		t.Run(fmt.Sprintf("%s/%s", m.name, m.catches), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutantChild$/^"+m.catches+"$", "-test.count=1", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", mutantEnv, i))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("suite against %q: %v, want a failure\n%s", m.name, err, out)
			}
			if want := "--- FAIL: TestMutantChild/" + m.catches + " "; !strings.Contains(string(out), want) {
				t.Fatalf("suite against %q: %s did not fail:\n%s", m.name, m.catches, out)
			}
		})
	}
}

// TestMutantChild is the suite against one mutant, in the child process
// of TestRunCatches.
func TestMutantChild(t *testing.T) {
	env := os.Getenv(mutantEnv)
	if env == "" {
		t.Skip("only in TestRunCatches' child")
	}
	var i int
	if _, err := fmt.Sscan(env, &i); err != nil || i < 0 || i >= len(mutants) {
		t.Fatalf("%s=%q", mutantEnv, env)
	}
	storagetest.Run(t, mutants[i].open)
}
