package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteNewReadBack(t *testing.T) {
	name := filepath.Join(t.TempDir(), "k")
	var stages []string
	Fault = func(n, stage string) {
		if n == name {
			stages = append(stages, stage)
		}
	}
	defer func() { Fault = nil }()
	if err := WriteNew(name, []byte("  key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0] != "created" || stages[1] != "written" {
		t.Errorf("fault stages %v", stages)
	}
	if got, err := Read(name); err != nil || got != "key" {
		t.Errorf("Read = %q, %v", got, err)
	}
	if err := WriteNew(name, []byte("other"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwriting: %v, want fs.ErrExist", err)
	}
	if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{"00112233445566778899aabbccddeeff\n", true},
		{"", false},
		{"  \n", false},
		{"0011", false},
		{"zz112233445566778899aabbccddeeff", false},
	} {
		name := filepath.Join(dir, "s")
		os.WriteFile(name, []byte(tc.text), 0o600)
		s, err := ReadSecret(name)
		var bad *BadSecretError
		switch {
		case tc.ok && (err != nil || len(s) != 16):
			t.Errorf("%q: %x, %v", tc.text, s, err)
		case !tc.ok && !errors.As(err, &bad):
			t.Errorf("%q: %v, want a BadSecretError", tc.text, err)
		}
	}
	if _, err := ReadSecret(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}
