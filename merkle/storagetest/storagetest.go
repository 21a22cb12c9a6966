// Package storagetest is the conformance suite of [merkle.Storage], in the
// manner of golang.org/x/mod/sumdb/storage's TestStorage: every
// implementation runs [Run] from its own tests,
//
//	func TestStorage(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T, dir string) merkle.Storage {
//			return merkle.NewDirStorage(dir)
//		})
//	}
//
// and each rule of the contract written on merkle.Storage is a subtest.
//
// Durability is checked the only way a test process can observe it: after
// making its writes durable as the contract prescribes, a subtest opens
// the directory again (a second Storage over it) and requires everything
// durable to be there. That the data would also survive a power failure
// no in-process test can show.
package storagetest

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crossledger/crossledger/merkle"
)

// Run runs the conformance suite. open returns a Storage over the
// directory dir, which exists and is empty on the first call for it; Run
// calls it again for the same dir to reopen it, after which it uses only
// the new Storage.
func Run(t *testing.T, open func(t *testing.T, dir string) merkle.Storage) {
	tests := []struct {
		name string
		run  func(*testing.T, func(*testing.T, string) merkle.Storage)
	}{
		{"ReadWrite", testReadWrite},
		{"Overwrite", testOverwrite},
		{"NoAliasing", testNoAliasing},
		{"Missing", testMissing},
		{"AppendSync", testAppendSync},
		{"Truncate", testTruncate},
		{"Rename", testRename},
		{"Remove", testRemove},
		{"RemoveAll", testRemoveAll},
		{"ReadDir", testReadDir},
		{"Root", testRoot},
		{"InvalidNames", testInvalidNames},
		{"Sync", testSync},
		{"Idempotent", testIdempotent},
		{"Publish", testPublish},
		{"Reopen", testReopen},
		{"ConcurrentWrites", testConcurrentWrites},
		{"ConcurrentReads", testConcurrentReads},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
	}
}

// newStore opens a Storage over a new empty directory, dir, alone in its
// parent so that anything escaping it shows.
func newStore(t *testing.T, open func(*testing.T, string) merkle.Storage) (st merkle.Storage, dir string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "log")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return open(t, dir), dir
}

// tree is a storage's whole content: files by name, and every directory
// as its name with a trailing "/" mapped to "".
type tree map[string]string

// put records a file and its parent directories.
func (m tree) put(name, data string) {
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		m[d+"/"] = ""
	}
	m[name] = data
}

// removeAll forgets name and everything under it.
func (m tree) removeAll(name string) {
	delete(m, name)
	for k := range m {
		if strings.HasPrefix(k, name+"/") {
			delete(m, k)
		}
	}
}

// readTree reads st's whole content through ReadDir and ReadFile.
func readTree(t *testing.T, st merkle.Storage) tree {
	t.Helper()
	m := tree{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := st.ReadDir(dir)
		if err != nil {
			t.Fatalf("ReadDir(%q): %v", dir, err)
		}
		for _, n := range names {
			full := n
			if dir != "." {
				full = dir + "/" + n
			}
			if sub, ok := strings.CutSuffix(full, "/"); ok {
				m[full] = ""
				walk(sub)
				continue
			}
			data, err := st.ReadFile(full)
			if err != nil {
				t.Fatalf("ReadFile(%q) of a listed file: %v", full, err)
			}
			m[full] = string(data)
		}
	}
	walk(".")
	return m
}

// checkTree requires st to hold exactly want.
func checkTree(t *testing.T, st merkle.Storage, want tree) {
	t.Helper()
	got := readTree(t, st)
	if maps.Equal(got, want) {
		return
	}
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if w, ok := want[k]; !ok {
			diff = append(diff, fmt.Sprintf("unexpected %s (%d bytes)", k, len(got[k])))
		} else if w != got[k] {
			diff = append(diff, fmt.Sprintf("%s: %s, want %s", k, describe(got[k]), describe(w)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			diff = append(diff, "missing "+k)
		}
	}
	t.Errorf("storage content differs:\n\t%s", strings.Join(diff, "\n\t"))
}

func describe(s string) string {
	if len(s) <= 40 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%d bytes %q...", len(s), s[:32])
}

func mustWrite(t *testing.T, st merkle.Storage, name, data string) {
	t.Helper()
	if err := st.WriteFile(name, []byte(data)); err != nil {
		t.Fatalf("WriteFile(%q): %v", name, err)
	}
}

func must(t *testing.T, err error, call string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
}

func checkFile(t *testing.T, st merkle.Storage, name, want string) {
	t.Helper()
	got, err := st.ReadFile(name)
	if err != nil {
		t.Fatalf("ReadFile(%q): %v", name, err)
	}
	if string(got) != want {
		t.Fatalf("ReadFile(%q) = %s, want %s", name, describe(string(got)), describe(want))
	}
}

// pattern is n deterministic bytes, all 256 values included.
func pattern(seed string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ seed[i%len(seed)]
	}
	return string(b)
}

func testReadWrite(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	for _, tc := range []struct {
		name, file, data string
	}{
		{"empty", "empty", ""},
		{"small", "journal", "crossledger/merkle journal v1\n"},
		{"binary", "bin", "\x00\xff\x00\n\r\x00"},
		{"large", "tile/entries/000", pattern("bundle", 1<<20+3)},
		{"new parents", "tile/0/x001/x234/067", pattern("tile", 8192)},
		{"dotted directory", "tile/0/000.p/5", pattern("partial", 160)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStore(t, open)
			mustWrite(t, st, tc.file, tc.data)
			checkFile(t, st, tc.file, tc.data)
			want := tree{}
			want.put(tc.file, tc.data)
			checkTree(t, st, want)
		})
	}
}

func testOverwrite(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	for _, tc := range []struct {
		name, first, second string
	}{
		{"shorter", "0123456789", "abc"},
		{"longer", "abc", "0123456789"},
		{"same", "0123456789", "0123456789"},
		{"empty", "0123456789", ""},
		{"large to small", pattern("big", 100_000), "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStore(t, open)
			mustWrite(t, st, "d/f", tc.first)
			mustWrite(t, st, "d/f", tc.second)
			checkFile(t, st, "d/f", tc.second)
			checkTree(t, st, tree{"d/": "", "d/f": tc.second})
		})
	}
}

// testNoAliasing: the log reuses its journal buffer between AppendSyncs
// and the tile writer's buffers are the LRU's; nothing may keep them.
func testNoAliasing(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	st, _ := newStore(t, open)
	buf := []byte("written")
	must(t, st.WriteFile("w", buf), "WriteFile")
	copy(buf, "XXXXXXX")
	checkFile(t, st, "w", "written")

	buf = []byte("appended")
	must(t, st.AppendSync("a", buf), "AppendSync")
	copy(buf, "XXXXXXXX")
	checkFile(t, st, "a", "appended")

	got, err := st.ReadFile("w")
	must(t, err, "ReadFile")
	copy(got, "YYYYYYY")
	checkFile(t, st, "w", "written")
}

// notExist and noError are what the calls of testMissing must return.
const (
	notExist = "an error wrapping fs.ErrNotExist"
	noError  = "no error"
)

func testMissing(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	for _, tc := range []struct {
		call string
		do   func(merkle.Storage) error
		want string
	}{
		{"ReadFile(nope)", func(st merkle.Storage) error { _, err := st.ReadFile("nope"); return err }, notExist},
		{"ReadFile(no/such/dir)", func(st merkle.Storage) error { _, err := st.ReadFile("no/such/dir"); return err }, notExist},
		{"Sync(nope)", func(st merkle.Storage) error { return st.Sync("nope") }, notExist},
		{"SyncDir(nodir)", func(st merkle.Storage) error { return st.SyncDir("nodir") }, notExist},
		{"Truncate(nope)", func(st merkle.Storage) error { return st.Truncate("nope", 0) }, notExist},
		{"Rename(nope, x)", func(st merkle.Storage) error { return st.Rename("nope", "x") }, notExist},
		{"Rename(f, nodir/x)", func(st merkle.Storage) error { return st.Rename("f", "nodir/x") }, notExist},
		{"AppendSync(nodir/j)", func(st merkle.Storage) error { return st.AppendSync("nodir/j", []byte("x")) }, notExist},
		{"Remove(nope)", func(st merkle.Storage) error { return st.Remove("nope") }, noError},
		{"Remove(nodir/x)", func(st merkle.Storage) error { return st.Remove("nodir/x") }, noError},
		{"RemoveAll(nope)", func(st merkle.Storage) error { return st.RemoveAll("nope") }, noError},
		{"RemoveAll(nodir/x/y)", func(st merkle.Storage) error { return st.RemoveAll("nodir/x/y") }, noError},
		{"ReadDir(nodir)", func(st merkle.Storage) error {
			names, err := st.ReadDir("nodir")
			if err == nil && len(names) != 0 {
				return fmt.Errorf("listed %q", names)
			}
			return err
		}, noError},
	} {
		t.Run(tc.call, func(t *testing.T) {
			st, _ := newStore(t, open)
			mustWrite(t, st, "f", "data")
			err := tc.do(st)
			switch {
			case tc.want == notExist && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s = %v, want %s", tc.call, err, tc.want)
			case tc.want == noError && err != nil:
				t.Errorf("%s = %v, want %s", tc.call, err, tc.want)
			}
			checkTree(t, st, tree{"f": "data"})
		})
	}
}

// op is one step of a scenario.
type op struct {
	call string
	do   func(merkle.Storage) error
}

func writeOp(name, data string) op {
	return op{fmt.Sprintf("WriteFile(%q)", name), func(st merkle.Storage) error { return st.WriteFile(name, []byte(data)) }}
}

func appendOp(name, data string) op {
	return op{fmt.Sprintf("AppendSync(%q, %q)", name, data), func(st merkle.Storage) error { return st.AppendSync(name, []byte(data)) }}
}

func truncateOp(name string, size int64) op {
	return op{fmt.Sprintf("Truncate(%q, %d)", name, size), func(st merkle.Storage) error { return st.Truncate(name, size) }}
}

func renameOp(oldname, newname string) op {
	return op{fmt.Sprintf("Rename(%q, %q)", oldname, newname), func(st merkle.Storage) error { return st.Rename(oldname, newname) }}
}

func removeOp(name string) op {
	return op{fmt.Sprintf("Remove(%q)", name), func(st merkle.Storage) error { return st.Remove(name) }}
}

func removeAllOp(name string) op {
	return op{fmt.Sprintf("RemoveAll(%q)", name), func(st merkle.Storage) error { return st.RemoveAll(name) }}
}

func syncOp(name string) op {
	return op{fmt.Sprintf("Sync(%q)", name), func(st merkle.Storage) error { return st.Sync(name) }}
}

func syncDirOp(dir string) op {
	return op{fmt.Sprintf("SyncDir(%q)", dir), func(st merkle.Storage) error { return st.SyncDir(dir) }}
}

func syncAllOp() op {
	return op{"SyncAll()", func(st merkle.Storage) error { return st.SyncAll() }}
}

// scenario is a table case: ops that must all succeed, then the content.
type scenario struct {
	name string
	ops  []op
	want tree
}

func runScenarios(t *testing.T, open func(*testing.T, string) merkle.Storage, cases []scenario) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStore(t, open)
			for _, o := range tc.ops {
				must(t, o.do(st), o.call)
			}
			checkTree(t, st, tc.want)
		})
	}
}

func testAppendSync(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	runScenarios(t, open, []scenario{
		{"creates", []op{appendOp("journal", "rec1")}, tree{"journal": "rec1"}},
		{"appends", []op{appendOp("journal", "rec1"), appendOp("journal", "rec2"), appendOp("journal", "rec3")},
			tree{"journal": "rec1rec2rec3"}},
		{"empty append", []op{appendOp("journal", "rec1"), appendOp("journal", "")}, tree{"journal": "rec1"}},
		{"after WriteFile", []op{writeOp("journal", "magic\n"), appendOp("journal", "rec1")}, tree{"journal": "magic\nrec1"}},
		{"in a subdirectory", []op{writeOp("d/other", "x"), appendOp("d/journal", "rec1")},
			tree{"d/": "", "d/other": "x", "d/journal": "rec1"}},
		// Open truncates a torn tail and the next Append goes on from there.
		{"after Truncate", []op{appendOp("journal", "rec1torn"), truncateOp("journal", 4), appendOp("journal", "rec2")},
			tree{"journal": "rec1rec2"}},
		{"after Rename", []op{appendOp("journal", "old"), writeOp("journal.tmp", "base"), renameOp("journal.tmp", "journal"), appendOp("journal", "rec1")},
			tree{"journal": "baserec1"}},
	})
}

func testTruncate(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	runScenarios(t, open, []scenario{
		{"to zero", []op{writeOp("j", "0123456789"), truncateOp("j", 0)}, tree{"j": ""}},
		{"to the middle", []op{writeOp("j", "0123456789"), truncateOp("j", 4)}, tree{"j": "0123"}},
		{"to its length", []op{writeOp("j", "0123456789"), truncateOp("j", 10)}, tree{"j": "0123456789"}},
		{"twice", []op{writeOp("j", "0123456789"), truncateOp("j", 7), truncateOp("j", 2)}, tree{"j": "01"}},
		{"large", []op{writeOp("j", pattern("j", 100_000)), truncateOp("j", 65_537)}, tree{"j": pattern("j", 100_000)[:65_537]}},
	})
}

func testRename(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	runScenarios(t, open, []scenario{
		{"onto an existing file", []op{writeOp("checkpoint", "old"), writeOp("checkpoint.tmp", "new"), renameOp("checkpoint.tmp", "checkpoint")},
			tree{"checkpoint": "new"}},
		{"onto a longer file", []op{writeOp("checkpoint", "a much longer old version"), writeOp("checkpoint.tmp", "new"), renameOp("checkpoint.tmp", "checkpoint")},
			tree{"checkpoint": "new"}},
		{"to a new name", []op{writeOp("a", "data"), renameOp("a", "b")}, tree{"b": "data"}},
		{"across directories", []op{writeOp("x/a", "data"), writeOp("y/keep", "k"), renameOp("x/a", "y/b")},
			tree{"x/": "", "y/": "", "y/keep": "k", "y/b": "data"}},
	})
}

func testRemove(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	runScenarios(t, open, []scenario{
		{"a file", []op{writeOp("a", "1"), writeOp("b", "2"), removeOp("a")}, tree{"b": "2"}},
		{"a file in a directory", []op{writeOp("d/a", "1"), writeOp("d/b", "2"), removeOp("d/a")}, tree{"d/": "", "d/b": "2"}},
		{"an empty directory", []op{writeOp("d/e/a", "1"), removeOp("d/e/a"), removeOp("d/e")}, tree{"d/": ""}},
	})
	t.Run("a non-empty directory", func(t *testing.T) {
		st, _ := newStore(t, open)
		mustWrite(t, st, "d/a", "1")
		if err := st.Remove("d"); err == nil {
			t.Errorf(`Remove("d") of a non-empty directory succeeded`)
		}
		checkTree(t, st, tree{"d/": "", "d/a": "1"})
	})
}

func testRemoveAll(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	runScenarios(t, open, []scenario{
		{"a tree", []op{writeOp("t/a/b", "1"), writeOp("t/c", "2"), writeOp("t/a/d/e", "3"), writeOp("u", "4"), removeAllOp("t")}, tree{"u": "4"}},
		{"a subtree", []op{writeOp("tile/0/000.p/1", "1"), writeOp("tile/0/000.p/2", "2"), writeOp("tile/0/000", "3"), removeAllOp("tile/0/000.p")},
			tree{"tile/": "", "tile/0/": "", "tile/0/000": "3"}},
		{"a file", []op{writeOp("a", "1"), writeOp("b", "2"), removeAllOp("a")}, tree{"b": "2"}},
		{"an empty directory", []op{writeOp("d/a", "1"), removeOp("d/a"), removeAllOp("d")}, tree{}},
	})
}

func testReadDir(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	st, _ := newStore(t, open)
	for _, name := range []string{"a0", "a/x", "b/c/d", "a.b", "Z", "a-b", "b/c/e/f", "b/c/e0"} {
		mustWrite(t, st, name, name)
	}
	mustWrite(t, st, "gone/f", "")
	must(t, st.Remove("gone/f"), "Remove")
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		// The "/" takes part in the order: '-' < '.' < '/' < '0'.
		{".", []string{"Z", "a-b", "a.b", "a/", "a0", "b/", "gone/"}},
		{"a", []string{"x"}},
		{"b", []string{"c/"}},
		{"b/c", []string{"d", "e/", "e0"}},
		{"gone", nil},
	} {
		got, err := st.ReadDir(tc.dir)
		if err != nil {
			t.Errorf("ReadDir(%q): %v", tc.dir, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ReadDir(%q) = %q, want %q", tc.dir, got, tc.want)
		}
	}
	if _, err := st.ReadDir("a0"); err == nil {
		t.Errorf(`ReadDir("a0") of a file succeeded`)
	}
}

// testRoot: "." can be listed and synced; every mutation of it fails and
// the root stays.
func testRoot(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	// The root is empty unless the call needs a file: an empty directory
	// is what a careless Remove takes.
	for _, tc := range []struct {
		op
		want tree
	}{
		{writeOp(".", "x"), tree{}},
		{appendOp(".", "x"), tree{}},
		{truncateOp(".", 0), tree{}},
		{removeOp("."), tree{}},
		{removeAllOp("."), tree{}},
		{renameOp(".", "moved"), tree{}},
		{renameOp("f", "."), tree{"f": "data"}},
	} {
		t.Run(tc.call, func(t *testing.T) {
			st, dir := newStore(t, open)
			for name, data := range tc.want {
				mustWrite(t, st, name, data)
			}
			if err := tc.do(st); err == nil {
				t.Errorf("%s succeeded", tc.call)
			}
			// A directory storage must not have removed its root; any
			// other leaves the suite's directory alone.
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				t.Errorf("after %s the log directory is gone: %v", tc.call, err)
			}
			checkTree(t, st, tc.want)
		})
	}
}

func testInvalidNames(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	st, dir := newStore(t, open)
	mustWrite(t, st, "ok", "data")
	parent := filepath.Dir(dir)
	bad := []string{
		"", "/abs", "../escaped", "a/../../escaped", "..", "./a", "a/./b", "a/..", "a//b", "a/",
		filepath.ToSlash(filepath.Join(parent, "escaped-abs")), // absolute, into the parent
	}
	calls := []struct {
		call string
		do   func(name string) error
	}{
		{"ReadFile", func(n string) error { _, err := st.ReadFile(n); return err }},
		{"WriteFile", func(n string) error { return st.WriteFile(n, []byte("x")) }},
		{"AppendSync", func(n string) error { return st.AppendSync(n, []byte("x")) }},
		{"Sync", func(n string) error { return st.Sync(n) }},
		{"SyncDir", func(n string) error { return st.SyncDir(n) }},
		{"Rename from", func(n string) error { return st.Rename(n, "renamed") }},
		{"Rename to", func(n string) error { return st.Rename("ok", n) }},
		{"Remove", func(n string) error { return st.Remove(n) }},
		{"RemoveAll", func(n string) error { return st.RemoveAll(n) }},
		{"Truncate", func(n string) error { return st.Truncate(n, 0) }},
		{"ReadDir", func(n string) error { _, err := st.ReadDir(n); return err }},
	}
	for _, c := range calls {
		for _, name := range bad {
			err := c.do(name)
			switch {
			case err == nil:
				t.Errorf("%s(%q) succeeded", c.call, name)
			case errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s(%q) = %v: an invalid name must not read as a missing file", c.call, name, err)
			}
		}
	}
	checkTree(t, st, tree{"ok": "data"})
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "log" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("beside the log directory: %q, want only \"log\"", names)
	}
}

func testSync(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	st, _ := newStore(t, open)
	mustWrite(t, st, "f", "1")
	mustWrite(t, st, "d/e/g", "2")
	want := tree{"f": "1", "d/": "", "d/e/": "", "d/e/g": "2"}
	for _, o := range []op{syncOp("f"), syncOp("d/e/g"), syncOp("."), syncDirOp("."), syncDirOp("d"), syncDirOp("d/e"), syncAllOp()} {
		for range 2 {
			if err := o.do(st); err != nil {
				t.Errorf("%s: %v", o.call, err)
			}
		}
	}
	checkTree(t, st, want)
}

// testIdempotent: the calls the contract calls idempotent leave the same
// content when repeated; Rename and AppendSync do not.
func testIdempotent(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	fixture := tree{"f": "0123456789", "d/": "", "d/g": "g", "t/": "", "t/u/": "", "t/u/v": "v"}
	for _, o := range []op{
		writeOp("f", "new"),
		writeOp("n/new", "new"),
		truncateOp("f", 3),
		removeOp("f"),
		removeOp("d/g"),
		removeAllOp("t"),
		syncOp("f"),
		syncDirOp("d"),
		syncAllOp(),
	} {
		t.Run(o.call, func(t *testing.T) {
			st, _ := newStore(t, open)
			for _, k := range slices.Sorted(maps.Keys(fixture)) {
				if !strings.HasSuffix(k, "/") {
					mustWrite(t, st, k, fixture[k])
				}
			}
			must(t, o.do(st), o.call)
			once := readTree(t, st)
			if err := o.do(st); err != nil {
				t.Fatalf("repeated %s: %v", o.call, err)
			}
			checkTree(t, st, once)
		})
	}
	t.Run("Rename is not", func(t *testing.T) {
		st, _ := newStore(t, open)
		mustWrite(t, st, "checkpoint.tmp", "new")
		must(t, st.Rename("checkpoint.tmp", "checkpoint"), "Rename")
		if err := st.Rename("checkpoint.tmp", "checkpoint"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("repeated Rename = %v, want an error wrapping fs.ErrNotExist", err)
		}
		checkTree(t, st, tree{"checkpoint": "new"})
	})
	t.Run("AppendSync is not", func(t *testing.T) {
		st, _ := newStore(t, open)
		must(t, st.AppendSync("journal", []byte("rec")), "AppendSync")
		must(t, st.AppendSync("journal", []byte("rec")), "AppendSync")
		checkTree(t, st, tree{"journal": "recrec"})
	})
}

// publish is the log's atomic publication: temp file, sync, rename, sync
// the directory.
func publish(t *testing.T, st merkle.Storage, name, data string) {
	t.Helper()
	tmp := name + ".tmp"
	mustWrite(t, st, tmp, data)
	must(t, st.Sync(tmp), "Sync(tmp)")
	must(t, st.Rename(tmp, name), "Rename(tmp, name)")
	must(t, st.SyncDir(path.Dir(name)), "SyncDir")
}

// testPublish: a publication is all-or-nothing. Interrupted at any step
// before the rename, the published name keeps its previous content, also
// across a reopen; once it completes, the new content survives a reopen.
func testPublish(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	const v1, v2, v3 = "checkpoint v1\n", "checkpoint v2 that is longer\n", "v3\n"
	for _, tc := range []struct {
		name        string
		interrupted []op // the steps done before the crash
	}{
		{"crash before anything", nil},
		{"crash after a torn temp write", []op{writeOp("checkpoint.tmp", v2[:5])}},
		{"crash after the temp write", []op{writeOp("checkpoint.tmp", v2)}},
		{"crash after the temp sync", []op{writeOp("checkpoint.tmp", v2), syncOp("checkpoint.tmp")}},
		{"failed rename", []op{writeOp("checkpoint.tmp", v2), syncOp("checkpoint.tmp"), removeOp("checkpoint.tmp"),
			{`Rename("checkpoint.tmp", "checkpoint") fails`, func(st merkle.Storage) error {
				if err := st.Rename("checkpoint.tmp", "checkpoint"); !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("rename of a missing temp file = %v, want an error wrapping fs.ErrNotExist", err)
				}
				return nil
			}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := newStore(t, open)
			publish(t, st, "checkpoint", v1)
			for _, o := range tc.interrupted {
				must(t, o.do(st), o.call)
			}
			checkFile(t, st, "checkpoint", v1)

			st = open(t, dir)
			checkFile(t, st, "checkpoint", v1)
			// Recovery removes the leftover, then publishes again.
			must(t, st.Remove("checkpoint.tmp"), "Remove(tmp)")
			publish(t, st, "checkpoint", v3)
			checkFile(t, st, "checkpoint", v3)

			st = open(t, dir)
			checkTree(t, st, tree{"checkpoint": v3})
		})
	}
	t.Run("in a subdirectory", func(t *testing.T) {
		st, dir := newStore(t, open)
		mustWrite(t, st, "d/keep", "k")
		must(t, st.Sync("d/keep"), "Sync")
		must(t, st.SyncDir("."), "SyncDir")
		publish(t, st, "d/checkpoint", v1)
		publish(t, st, "d/checkpoint", v2)
		st = open(t, dir)
		checkTree(t, st, tree{"d/": "", "d/keep": "k", "d/checkpoint": v2})
	})
}

// testReopen makes each kind of mutation durable as the contract says,
// then requires a reopened Storage to hold exactly the result. Every step
// runs on the Storage the previous step reopened.
func testReopen(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	const magic = "crossledger/merkle journal v1\n"
	st, dir := newStore(t, open)
	want := tree{}
	for _, step := range []struct {
		name  string
		ops   []op
		apply func(tree)
	}{
		{"WriteFile, Sync, SyncDir", []op{writeOp("journal", magic), syncOp("journal"), syncDirOp(".")},
			func(m tree) { m.put("journal", magic) }},
		{"AppendSync", []op{appendOp("journal", "rec1"), appendOp("journal", "rec2")},
			func(m tree) { m.put("journal", magic+"rec1rec2") }},
		{"WriteFile in new directories, SyncAll", []op{
			writeOp("tile/0/x001/002", pattern("t2", 8192)),
			writeOp("tile/0/x001/003.p/7", pattern("t3", 224)),
			writeOp("tile/entries/x001/002", pattern("e2", 5000)),
			syncAllOp(),
		}, func(m tree) {
			m.put("tile/0/x001/002", pattern("t2", 8192))
			m.put("tile/0/x001/003.p/7", pattern("t3", 224))
			m.put("tile/entries/x001/002", pattern("e2", 5000))
		}},
		{"WriteFile in new directories, Sync, SyncDir each", []op{
			writeOp("tile/1/000.p/2", pattern("t1", 64)),
			syncOp("tile/1/000.p/2"), syncDirOp("tile/1/000.p"), syncDirOp("tile/1"), syncDirOp("tile"),
		}, func(m tree) { m.put("tile/1/000.p/2", pattern("t1", 64)) }},
		{"Truncate, Sync", []op{truncateOp("journal", int64(len(magic)+4)), syncOp("journal")},
			func(m tree) { m.put("journal", magic+"rec1") }},
		{"AppendSync after Truncate", []op{appendOp("journal", "rec2'")},
			func(m tree) { m.put("journal", magic+"rec1rec2'") }},
		{"publication", []op{writeOp("checkpoint.tmp", "cp"), syncOp("checkpoint.tmp"), renameOp("checkpoint.tmp", "checkpoint"), syncDirOp(".")},
			func(m tree) { m.put("checkpoint", "cp") }},
		{"journal replacement", []op{writeOp("journal.tmp", magic+"base"), syncOp("journal.tmp"), renameOp("journal.tmp", "journal"), syncDirOp(".")},
			func(m tree) { m.put("journal", magic+"base") }},
		{"Remove, SyncDir", []op{removeOp("tile/0/x001/003.p/7"), removeOp("tile/0/x001/003.p"), syncDirOp("tile/0/x001")},
			func(m tree) { m.removeAll("tile/0/x001/003.p") }},
		{"RemoveAll, SyncAll", []op{removeAllOp("tile/1"), syncAllOp()},
			func(m tree) { m.removeAll("tile/1") }},
		{"overwrite, SyncAll", []op{writeOp("tile/entries/x001/002", "short"), syncAllOp()},
			func(m tree) { m.put("tile/entries/x001/002", "short") }},
	} {
		for _, o := range step.ops {
			must(t, o.do(st), step.name+": "+o.call)
		}
		step.apply(want)
		t.Logf("after %s", step.name)
		checkTree(t, st, want)
		st = open(t, dir)
		checkTree(t, st, want)
		if t.Failed() {
			t.FailNow()
		}
	}
}

// Sizes of the concurrent tests: small enough for -race on two cores,
// large enough to overlap.
const (
	writers        = 4
	filesPerWriter = 24
	appends        = 48
	readers        = 2
	publications   = 100
)

// testConcurrentWrites overlaps WriteFiles of distinct names, which create
// the same missing parent directories, with AppendSyncs, as the tile
// writer and Append do.
func testConcurrentWrites(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	st, dir := newStore(t, open)
	want := tree{}
	name := func(g, i int) string { return fmt.Sprintf("tile/%d/x%03d/%03d", i%2, i%3, g*filesPerWriter+i) }
	for g := range writers {
		for i := range filesPerWriter {
			want.put(name(g, i), pattern(name(g, i), 100+g*1000+i*37))
		}
	}
	var journal strings.Builder
	for i := range appends {
		fmt.Fprintf(&journal, "record %d;", i)
	}
	want.put("journal", journal.String())

	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range writers {
		wg.Go(func() {
			<-start
			for i := range filesPerWriter {
				n := name(g, i)
				if err := st.WriteFile(n, []byte(want[n])); err != nil {
					t.Errorf("WriteFile(%q): %v", n, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		for i := range appends {
			if err := st.AppendSync("journal", fmt.Appendf(nil, "record %d;", i)); err != nil {
				t.Errorf("AppendSync #%d: %v", i, err)
				return
			}
		}
	})
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	checkTree(t, st, want)
	must(t, st.SyncAll(), "SyncAll")
	checkTree(t, open(t, dir), want)
}

// testConcurrentReads reads while other goroutines write: files and
// directories nobody writes read the same throughout, a file replaced by
// Rename reads whole (the old version or the new, and never older than
// one already seen), and a directory being filled lists sorted subsets of
// what is written into it.
func testConcurrentReads(t *testing.T, open func(*testing.T, string) merkle.Storage) {
	st, _ := newStore(t, open)
	stable := tree{}
	for i := range 8 {
		stable.put(fmt.Sprintf("stable/%d", i), pattern(fmt.Sprint(i), 1+i*9000))
	}
	for _, k := range slices.Sorted(maps.Keys(stable)) {
		if !strings.HasSuffix(k, "/") {
			mustWrite(t, st, k, stable[k])
		}
	}
	stableNames, err := st.ReadDir("stable")
	must(t, err, "ReadDir")
	version := func(i int) string {
		return fmt.Sprintf("v%06d\n", i) + strings.Repeat(string(rune('a'+i%26)), 512+i*997%8192)
	}
	publish(t, st, "checkpoint", version(0))
	writing := map[string]bool{} // names the writers create in "tile/0"
	for g := range writers {
		for i := range filesPerWriter {
			writing[fmt.Sprintf("%d-%03d", g, i)] = true
		}
	}

	var (
		wg    sync.WaitGroup
		ready sync.WaitGroup
		done  = make(chan struct{})
		mu    sync.Mutex
		seen  = map[int]bool{} // checkpoint versions read
	)
	ready.Add(readers)
	for r := range readers {
		wg.Go(func() {
			var once sync.Once
			defer once.Do(ready.Done) // also when a read fails first
			last := -1
			for iter := 0; ; iter++ {
				data, err := st.ReadFile("checkpoint")
				if err != nil {
					t.Errorf("reader %d: ReadFile(checkpoint) during publications: %v", r, err)
					return
				}
				v := -1
				if len(data) > 8 && data[0] == 'v' {
					v, _ = strconv.Atoi(string(data[1:7]))
				}
				if v < 0 || string(data) != version(v) {
					t.Errorf("reader %d: checkpoint read torn: %s", r, describe(string(data)))
					return
				}
				if v < last {
					t.Errorf("reader %d: read checkpoint v%d after v%d", r, v, last)
					return
				}
				last = v
				mu.Lock()
				seen[v] = true
				mu.Unlock()

				k := fmt.Sprintf("stable/%d", iter%8)
				if data, err := st.ReadFile(k); err != nil || string(data) != stable[k] {
					t.Errorf("reader %d: ReadFile(%q) during writes = %s, %v", r, k, describe(string(data)), err)
					return
				}
				if names, err := st.ReadDir("stable"); err != nil || !slices.Equal(names, stableNames) {
					t.Errorf("reader %d: ReadDir(stable) during writes = %q, %v, want %q", r, names, err, stableNames)
					return
				}
				names, err := st.ReadDir("tile/0")
				if err != nil || !slices.IsSorted(names) {
					t.Errorf("reader %d: ReadDir(tile/0) during writes = %q, %v", r, names, err)
					return
				}
				for _, n := range names {
					if !writing[n] {
						t.Errorf("reader %d: ReadDir(tile/0) lists %q, never written", r, n)
						return
					}
				}
				once.Do(ready.Done)
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	ready.Wait() // every reader is reading

	var writersWG sync.WaitGroup
	for g := range writers {
		writersWG.Go(func() {
			for i := range filesPerWriter {
				n := fmt.Sprintf("tile/0/%d-%03d", g, i)
				if err := st.WriteFile(n, []byte(n)); err != nil {
					t.Errorf("WriteFile(%q): %v", n, err)
					return
				}
			}
		})
	}
	writersWG.Go(func() {
		for i := 1; i <= publications; i++ {
			tmp := "checkpoint.tmp"
			err := st.WriteFile(tmp, []byte(version(i)))
			if err == nil {
				err = st.Sync(tmp)
			}
			if err == nil {
				err = st.Rename(tmp, "checkpoint")
			}
			if err != nil {
				t.Errorf("publication %d: %v", i, err)
				return
			}
		}
	})
	writersWG.Wait()
	close(done)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// After the last Rename returned, only the last version reads.
	checkFile(t, st, "checkpoint", version(publications))
	t.Logf("readers saw %d of %d checkpoint versions", len(seen), publications+1)
}
