package schema

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crossledger/crossledger/internal/yamlpos"
)

// Genesis files
//
// The genesis file fixes who may sign before any department.key entry
// exists:
//
//	origin: haidian.example/crossledger   # the log origin (checkpoint key name)
//	governance_key: <base64url Ed25519>   # signs department key registrations
//	departments:
//	  - id: civil-affairs
//	    keys:
//	      - public_key: <base64url Ed25519>
//	        id: 0123456789abcdef           # optional; must equal KeyID(public_key)
//	        valid_from: 0                  # first ledger index it may sign; default 0
//
// Unknown keys are errors; errors are [*SchemaError]s with file and line.

// Genesis is a decoded genesis file.
type Genesis struct {
	Origin        string              `yaml:"origin"`
	GovernanceKey string              `yaml:"governance_key"`
	Departments   []GenesisDepartment `yaml:"departments"`
}

// GenesisDepartment lists one department's initial keys.
type GenesisDepartment struct {
	ID   string       `yaml:"id"`
	Keys []GenesisKey `yaml:"keys"`
}

// GenesisKey is one initial department key.
type GenesisKey struct {
	ID        string `yaml:"id,omitempty"`
	PublicKey string `yaml:"public_key"`
	ValidFrom uint64 `yaml:"valid_from,omitempty"`
}

// LoadGenesis decodes and validates a genesis file; name is used in errors.
func LoadGenesis(name string, data []byte) (*Genesis, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErr(name, err)
	}
	var g Genesis
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&g); err != nil {
		return nil, yamlErr(name, err)
	}
	if err := g.validate(); err != nil {
		p := err.(*problem)
		return nil, &SchemaError{File: name, Line: yamlpos.Line(&root, p.path...), Field: p.field, Reason: p.reason}
	}
	return &g, nil
}

// LoadGenesisFile reads and loads a genesis file.
func LoadGenesisFile(filename string) (*Genesis, error) {
	data, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("couldn't read genesis file: %w", err)
	}
	return LoadGenesis(filename, data)
}

// Validate checks g; errors match [ErrSchema].
func (g *Genesis) Validate() error {
	if err := g.validate(); err != nil {
		return &SchemaError{Field: err.(*problem).field, Reason: err.(*problem).reason}
	}
	return nil
}

func (g *Genesis) validate() error {
	if g.Origin == "" || strings.ContainsAny(g.Origin, "\n+ ") {
		return fail([]any{"origin"}, "origin", "must be non-empty, without spaces, '+' or newlines")
	}
	if pub, err := b64.DecodeString(g.GovernanceKey); err != nil || len(pub) != ed25519.PublicKeySize {
		return fail([]any{"governance_key"}, "governance_key", "not a base64url Ed25519 public key")
	}
	if len(g.Departments) == 0 {
		return fail([]any{"departments"}, "departments", "at least one department needed")
	}
	seen := map[string]bool{}
	for i, d := range g.Departments {
		if !validID(d.ID) || d.ID == GovernanceID {
			return fail([]any{"departments", i, "id"}, "id", "%q is not a lowercase identifier [a-z0-9-]{1,64} (and not %q)", d.ID, GovernanceID)
		}
		if seen[d.ID] {
			return fail([]any{"departments", i, "id"}, d.ID, "duplicate department")
		}
		seen[d.ID] = true
		if len(d.Keys) == 0 {
			return fail([]any{"departments", i, "keys"}, d.ID, "at least one key needed")
		}
		ids := map[string]bool{}
		for j, k := range d.Keys {
			at := []any{"departments", i, "keys", j, "public_key"}
			pub, err := b64.DecodeString(k.PublicKey)
			if err != nil || len(pub) != ed25519.PublicKeySize {
				return fail(at, d.ID, "not a base64url Ed25519 public key")
			}
			id := KeyID(pub)
			if k.ID != "" && k.ID != id {
				return fail([]any{"departments", i, "keys", j, "id"}, d.ID, "key id %s does not match the public key (%s)", k.ID, id)
			}
			if ids[id] {
				return fail(at, d.ID, "duplicate key %s", id)
			}
			ids[id] = true
		}
	}
	return nil
}

// The demo: the departments of the Haidian scenario and a genesis file
// whose keys are derived from public seeds ([DemoKey]). For `crossledger
// dev`, examples and tests only — anyone can sign as these keys.
//
//go:embed demo/departments/*.yaml
var demoDepartments embed.FS

//go:embed demo/genesis.yaml
var demoGenesis []byte

// Demo returns a catalog of the demo departments: civil-affairs,
// public-security, real-estate, tax, market-regulation and electricity.
func Demo() *Catalog {
	c, err := DemoCatalog()
	if err != nil {
		panic(err) // the embedded files are tested
	}
	return c
}

// DemoCatalog is [Demo] returning the error instead of panicking.
func DemoCatalog() (*Catalog, error) {
	sub, err := fs.Sub(demoDepartments, "demo/departments")
	if err != nil {
		return nil, fmt.Errorf("couldn't open demo schemas: %w", err)
	}
	return LoadFS(sub, ".")
}

// DemoGenesis returns the demo genesis file: origin
// "haidian.example/crossledger", the [DemoKey] of "governance" as the
// governance key, and one key each for the demo departments and the
// "gateway" that signs access entries.
func DemoGenesis() (*Genesis, error) {
	return LoadGenesis("demo/genesis.yaml", demoGenesis)
}

// DemoGenesisYAML returns the embedded demo genesis file.
func DemoGenesisYAML() []byte { return bytes.Clone(demoGenesis) }

// DemoKey returns the deterministic demo private key of id (a department,
// "gateway" or "governance"): its seed is SHA-256("crossledger demo key "
// + id). Never use it outside demos and tests.
func DemoKey(id string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("crossledger demo key " + id))
	return ed25519.NewKeyFromSeed(seed[:])
}

// DemoSecret returns a deterministic demo secret for record references
// and subject tags (see [RecordRef], [SubjectTag]).
func DemoSecret(id string) []byte {
	s := sha256.Sum256([]byte("crossledger demo secret " + id))
	return s[:]
}

// demoGenesisText renders the genesis file for the demo ids; the test
// with -update writes it to demo/genesis.yaml.
func demoGenesisText(ids []string) []byte {
	enc := func(id string) string {
		return base64.RawURLEncoding.EncodeToString(DemoKey(id).Public().(ed25519.PublicKey))
	}
	var b bytes.Buffer
	b.WriteString("# Demo genesis: keys derived from public seeds (schema.DemoKey). Never use in production.\n")
	b.WriteString("origin: haidian.example/crossledger\n")
	fmt.Fprintf(&b, "governance_key: %s\n", enc(GovernanceID))
	b.WriteString("departments:\n")
	for _, id := range ids {
		pub := DemoKey(id).Public().(ed25519.PublicKey)
		fmt.Fprintf(&b, "  - id: %s\n    keys:\n      - id: %s\n        public_key: %s\n", id, KeyID(pub), enc(id))
	}
	return b.Bytes()
}

//go:embed demo/genesis.yaml demo/departments/*.yaml
var demoAll embed.FS

// DemoFS returns the embedded demo files: departments/*.yaml (one schema
// file per demo department) and genesis.yaml.
func DemoFS() fs.FS {
	sub, err := fs.Sub(demoAll, "demo")
	if err != nil {
		panic(err) // "demo" is a valid, embedded path
	}
	return sub
}
