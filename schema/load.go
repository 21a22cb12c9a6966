package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/crossledger/crossledger/internal/yamlpos"
)

// Department schema files
//
// One YAML file per department:
//
//	id: civil-affairs             # [a-z0-9-]{1,64}, unique in a catalog
//	name: Civil Affairs Bureau
//	types:
//	  - name: marriage            # [a-z0-9-]{1,64}
//	    version: 1                # ≥ 1; (name, version) unique in the file
//	    key: [marriage_id]        # fields that identify a record, in order
//	    fields:
//	      - name: marriage_id     # [a-z][a-z0-9_]{0,63}, unique in the type
//	        type: string          # see FieldType
//	        required: true        # key fields must be required
//	      - name: spouse_a_id
//	        type: citizen_id
//	        subject: true         # only on citizen_id fields
//	        pii: true
//	      - name: status
//	        type: enum
//	        values: [married, divorced, widowed]
//
// Unknown keys are errors. Every error is a [*SchemaError] with the file,
// the line and the reason.

// LoadDepartment decodes and validates one department schema file. name is
// the file name used in errors.
func LoadDepartment(name string, data []byte) (*Department, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErr(name, err)
	}
	var d Department
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return nil, yamlErr(name, err)
	}
	if err := validateDepartment(&d); err != nil {
		var p *problem
		if errors.As(err, &p) {
			return nil, &SchemaError{File: name, Line: yamlpos.Line(&root, p.path...), Field: p.field, Reason: p.reason}
		}
		return nil, err
	}
	return &d, nil
}

// LoadDepartmentFile reads and loads one department schema file.
func LoadDepartmentFile(filename string) (*Department, error) {
	data, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("couldn't read department schema: %w", err)
	}
	return LoadDepartment(filename, data)
}

// LoadDir loads every *.yaml and *.yml file of dir as a department schema
// into a new [Catalog].
func LoadDir(dir string) (*Catalog, error) {
	return LoadFS(os.DirFS(dir), ".")
}

// LoadFS is [LoadDir] on a file system.
func LoadFS(fsys fs.FS, dir string) (*Catalog, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("couldn't list department schemas: %w", err)
	}
	c := NewCatalog()
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || ext != ".yaml" && ext != ".yml" {
			continue
		}
		p := path.Join(dir, e.Name())
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("couldn't read department schema: %w", err)
		}
		d, err := LoadDepartment(p, data)
		if err != nil {
			return nil, err
		}
		if err := c.Add(d); err != nil {
			return nil, &SchemaError{File: p, Line: 1, Field: "id", Reason: err.Error()}
		}
	}
	return c, nil
}

// yamlErr turns a yaml.v3 error into a SchemaError with its line.
func yamlErr(file string, err error) error {
	line, reason := yamlpos.Locate(err)
	return &SchemaError{File: file, Line: line, Reason: reason}
}

// problem is a validation failure with the YAML path of the offending
// node (string keys and int indexes), turned into a SchemaError with a
// line by the loader.
type problem struct {
	path   []any
	field  string
	reason string
}

func (p *problem) Error() string { return p.field + ": " + p.reason }

func (p *problem) Is(target error) bool { return target == ErrSchema }

func fail(path []any, field, format string, args ...any) *problem {
	return &problem{path: path, field: field, reason: fmt.Sprintf(format, args...)}
}

func validateDepartment(d *Department) error {
	if !validID(d.ID) {
		return fail([]any{"id"}, "id", "%q is not a lowercase identifier [a-z0-9-]{1,64}", d.ID)
	}
	if strings.TrimSpace(d.Name) == "" {
		return fail([]any{"name"}, "name", "missing")
	}
	if len(d.Types) == 0 {
		return fail([]any{"types"}, "types", "a department needs at least one record type")
	}
	type nv struct {
		name    string
		version uint32
	}
	seen := map[nv]bool{}
	for i := range d.Types {
		rt := &d.Types[i]
		if err := validateRecordType(rt); err != nil {
			p := err.(*problem)
			p.path = append([]any{"types", i}, p.path...)
			return p
		}
		k := nv{rt.Name, rt.Version}
		if seen[k] {
			return fail([]any{"types", i, "name"}, rt.Name, "duplicate record type version %d", rt.Version)
		}
		seen[k] = true
	}
	return nil
}

var knownTypes = []FieldType{TypeString, TypeInt, TypeDecimal, TypeDate, TypeDateTime, TypeBool, TypeEnum, TypeCitizenID, TypeCreditCode}

// validateRecordType checks one record type; errors are *problem with a
// path relative to the record type.
func validateRecordType(rt *RecordType) error {
	if !validTypeName(rt.Name) {
		return fail([]any{"name"}, "name", "%q is not a lowercase identifier [a-z0-9-]{1,64}", rt.Name)
	}
	if rt.Version < 1 {
		return fail([]any{"version"}, rt.Name+".version", "must be ≥ 1")
	}
	if len(rt.Fields) == 0 {
		return fail([]any{"fields"}, rt.Name+".fields", "a record type needs at least one field")
	}
	names := map[string]int{}
	for j, f := range rt.Fields {
		at := func(k string) []any { return []any{"fields", j, k} }
		fn := rt.Name + "." + f.Name
		if !validFieldName(f.Name) {
			return fail(at("name"), fn, "field name %q is not [a-z][a-z0-9_]{0,63}", f.Name)
		}
		if _, dup := names[f.Name]; dup {
			return fail(at("name"), fn, "duplicate field")
		}
		names[f.Name] = j
		if !slices.Contains(knownTypes, f.Type) {
			return fail(at("type"), fn, "unknown type %q", f.Type)
		}
		if f.Type == TypeEnum {
			if len(f.Values) == 0 {
				return fail(at("type"), fn, "enum needs values")
			}
			vs := map[string]bool{}
			for _, v := range f.Values {
				if v == "" || !validEnumValue(v) || vs[v] {
					return fail(at("values"), fn, "enum value %q is empty, duplicate or not [A-Za-z0-9_-]", v)
				}
				vs[v] = true
			}
		} else if len(f.Values) > 0 {
			return fail(at("values"), fn, "values are only for enum fields")
		}
		if f.Subject && f.Type != TypeCitizenID {
			return fail(at("subject"), fn, "subject is only allowed on citizen_id fields")
		}
	}
	if len(rt.Key) == 0 {
		return fail([]any{"key"}, rt.Name+".key", "a record type needs a key")
	}
	for i, k := range rt.Key {
		j, ok := names[k]
		if !ok {
			return fail([]any{"key", i}, rt.Name+".key", "key field %q does not exist", k)
		}
		if !rt.Fields[j].Required {
			return fail([]any{"fields", j, "name"}, rt.Name+"."+k, "key field must be required")
		}
		if slices.Index(rt.Key, k) != i {
			return fail([]any{"key", i}, rt.Name+".key", "duplicate key field %q", k)
		}
	}
	return nil
}

func validEnumValue(v string) bool {
	if len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Catalog holds the departments and every known version of their record
// types. Versions accumulate: a schema entry adds one with [Catalog.AddVersion].
// A Catalog is safe for concurrent use.
type Catalog struct {
	mu    sync.RWMutex
	depts map[string]*Department
	// types: department → record type name → versions, ascending.
	types map[string]map[string][]*RecordType
}

// NewCatalog returns a catalog holding depts (which must be valid and
// have distinct ids; see [Catalog.Add]).
func NewCatalog(depts ...*Department) *Catalog {
	c := &Catalog{depts: map[string]*Department{}, types: map[string]map[string][]*RecordType{}}
	for _, d := range depts {
		if err := c.Add(d); err != nil {
			panic("schema: couldn't build catalog: " + err.Error())
		}
	}
	return c
}

// Add adds a validated department. Its id must be new.
func (c *Catalog) Add(d *Department) error {
	if err := validateDepartment(d); err != nil {
		return fmt.Errorf("couldn't add department %s: %w", d.ID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.depts[d.ID]; ok {
		return &SchemaError{Field: d.ID, Reason: "duplicate department"}
	}
	cp := *d
	cp.Types = slices.Clone(d.Types)
	c.depts[d.ID] = &cp
	byName := map[string][]*RecordType{}
	for i := range cp.Types {
		rt := &cp.Types[i]
		byName[rt.Name] = append(byName[rt.Name], rt)
	}
	for _, vs := range byName {
		slices.SortFunc(vs, func(a, b *RecordType) int { return int(a.Version) - int(b.Version) })
	}
	c.types[d.ID] = byName
	return nil
}

// Departments returns the department ids, sorted.
func (c *Catalog) Departments() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ids := make([]string, 0, len(c.depts))
	for id := range c.depts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Department returns the department as loaded (without versions added
// later by [Catalog.AddVersion]).
func (c *Catalog) Department(id string) (*Department, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.depts[id]
	return d, ok
}

// RecordType returns version of record type name of department dept;
// version 0 means the latest. The result must not be modified. Unknown
// departments, types and versions are [*SchemaError]s.
func (c *Catalog) RecordType(dept, name string, version uint32) (*RecordType, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	byName, ok := c.types[dept]
	if !ok {
		return nil, &SchemaError{Field: dept, Reason: "unknown department"}
	}
	vs := byName[name]
	if len(vs) == 0 {
		return nil, &SchemaError{Field: dept + "/" + name, Reason: "unknown record type"}
	}
	if version == 0 {
		return vs[len(vs)-1], nil
	}
	for _, rt := range vs {
		if rt.Version == version {
			return rt, nil
		}
	}
	return nil, &SchemaError{Field: dept + "/" + name, Reason: fmt.Sprintf("unknown version %d", version)}
}

// AddVersion adds a new version of a record type of dept, as a schema
// entry does. A new type starts at version 1; a new version of an existing
// type must be the latest + 1 and keep the same key, so record references
// stay stable.
func (c *Catalog) AddVersion(dept string, rt RecordType) error {
	if err := validateRecordType(&rt); err != nil {
		return fmt.Errorf("couldn't add record type version: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	byName, ok := c.types[dept]
	if !ok {
		return &SchemaError{Field: dept, Reason: "unknown department"}
	}
	vs := byName[rt.Name]
	want := uint32(1)
	if len(vs) > 0 {
		latest := vs[len(vs)-1]
		want = latest.Version + 1
		if !slices.Equal(latest.Key, rt.Key) {
			return &SchemaError{Field: dept + "/" + rt.Name + ".key", Reason: "a new version must keep the key"}
		}
	}
	if rt.Version != want {
		return &SchemaError{Field: dept + "/" + rt.Name + ".version", Reason: fmt.Sprintf("got %d, want %d", rt.Version, want)}
	}
	cp := rt
	cp.Fields = slices.Clone(rt.Fields)
	cp.Key = slices.Clone(rt.Key)
	byName[rt.Name] = append(vs, &cp)
	return nil
}
