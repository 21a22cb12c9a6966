package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodDept = `id: tax
name: Tax
types:
  - name: tax-credit
    version: 1
    key: [taxpayer_id]
    fields:
      - name: taxpayer_id
        type: credit_code
        required: true
      - name: rating
        type: enum
        values: [A, B]
`

func TestLoadDepartmentErrors(t *testing.T) {
	tests := []struct {
		name, old, new string
		line           int
		reason         string
	}{
		{"unknown key", "        required: true\n", "        required: true\n        colour: red\n", 11, "not found"},
		{"bad id", "id: tax", "id: Tax", 1, "lowercase"},
		{"bad field name", "name: rating", "name: Rating", 11, "field name"},
		{"unknown type", "type: enum", "type: money", 12, "unknown type"},
		{"enum without values", "        values: [A, B]\n", "", 12, "enum needs values"},
		{"values on non-enum", "type: enum", "type: string", 13, "only for enum"},
		{"subject on string", "        values: [A, B]\n", "        values: [A, B]\n        subject: true\n", 14, "subject"},
		{"missing key field", "key: [taxpayer_id]", "key: [nope]", 6, "does not exist"},
		{"optional key field", "        required: true\n", "", 8, "must be required"},
		{"version 0", "version: 1", "version: 0", 5, "≥ 1"},
		{"duplicate field", "name: rating", "name: taxpayer_id", 11, "duplicate field"},
		{"not yaml", "id: tax", "id: [tax", 1, ""},
		{"wrong yaml type", "version: 1", "version: one", 5, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(goodDept, tt.old, tt.new, 1)
			_, err := LoadDepartment("tax.yaml", []byte(src))
			var se *SchemaError
			if !errors.As(err, &se) || !errors.Is(err, ErrSchema) {
				t.Fatalf("err = %v, want *SchemaError", err)
			}
			if se.File != "tax.yaml" || (tt.line != 0 && se.Line != tt.line && tt.name != "not yaml") || !strings.Contains(se.Reason, tt.reason) {
				t.Errorf("err = %v (line %d), want line %d reason containing %q", err, se.Line, tt.line, tt.reason)
			}
		})
	}
	if _, err := LoadDepartment("tax.yaml", []byte(goodDept)); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tax.yaml"), []byte(goodDept), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("ignored"), 0o644)
	c, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RecordType("tax", "tax-credit", 1); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tax2.yml"), []byte(goodDept), 0o644)
	if _, err := LoadDir(dir); !errors.Is(err, ErrSchema) {
		t.Errorf("duplicate department: %v", err)
	}
	if _, err := LoadDepartmentFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestLoadGenesisErrors(t *testing.T) {
	good := string(DemoGenesisYAML())
	tests := []struct{ name, old, new, reason string }{
		{"bad origin", "origin: haidian.example/crossledger", "origin: a b", "origin"},
		{"bad key", "governance_key: _", "governance_key: !_", "governance_key"},
		{"key id mismatch", "      - id: ", "      - id: 00", "does not match"},
		{"unknown field", "origin:", "colour: red\norigin:", "not found"},
	}
	for _, tt := range tests {
		_, err := LoadGenesis("g.yaml", []byte(strings.Replace(good, tt.old, tt.new, 1)))
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
}

func FuzzLoadDepartment(f *testing.F) {
	f.Add([]byte(goodDept))
	entries, _ := demoDepartments.ReadDir("demo/departments")
	for _, e := range entries {
		b, _ := demoDepartments.ReadFile("demo/departments/" + e.Name())
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := LoadDepartment("f.yaml", b)
		if err != nil {
			if !errors.Is(err, ErrSchema) {
				t.Fatalf("error not matching ErrSchema: %v", err)
			}
			return
		}
		if err := validateDepartment(d); err != nil {
			t.Fatalf("loaded an invalid department: %v", err)
		}
	})
}
