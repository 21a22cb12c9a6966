package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/internal/dev"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

// verifyFixture is a 'crossledger dev'-style data directory (DIR/log.key
// and DIR/log) holding one signed marriage record among other entries,
// and a gateway response for it with status disclosed.
type verifyFixture struct {
	data, vkey string
	response   map[string]any
	record     map[string]any
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	skey, vkey, err := merkle.GenerateKey(dev.Origin)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyfile.WriteNew(filepath.Join(data, "log.key"), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rt, err := schema.Demo().RecordType("civil-affairs", "marriage", 0)
	if err != nil {
		t.Fatal(err)
	}
	ch, ds, err := schema.BuildChange(rt, schema.OpUpsert, schema.RecordRef(schema.DemoSecret("civil-affairs"), "marriage", []string{"M-1"}), map[string]string{
		"marriage_id": "M-1", "spouse_a_id": "11010519491231002X", "spouse_a_name": "A", "spouse_b_id": "110105198001010016",
		"spouse_b_name": "B", "status": "married", "registered_on": "2019-05-20", "registry_office": "Haidian",
	}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: "civil-affairs", Seq: 1, Time: "2026-01-02T03:04:05Z", Change: ch}
	if err := schema.Sign(env, schema.DemoKey("civil-affairs")); err != nil {
		t.Fatal(err)
	}
	entry, err := env.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	l, err := merkle.Open(ctx, filepath.Join(data, "log"), merkle.Options{SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, [][]byte{[]byte("a"), []byte("b"), entry, []byte("c")}, nil); err != nil {
		t.Fatal(err)
	}
	p, err := l.ProofBundle(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var fields []any
	for _, d := range ds {
		f := map[string]any{"name": d.Name, "value": nil, "disclosure": nil, "digest": d.Digest(), "redacted": true}
		if d.Name == "status" {
			f["value"], f["disclosure"], f["redacted"] = d.Value, d.Encoded, false
		}
		fields = append(fields, f)
	}
	rec := map[string]any{
		"department": "civil-affairs", "type": "marriage", "key": []string{"M-1"}, "op": "upsert", "schemaVersion": 1,
		"time": env.Time, "leaf": 2, "fields": fields, "envelope": string(entry), "keyId": env.KeyID,
		"signature": env.Sig, "proof": string(p.Encode()),
	}
	return &verifyFixture{data: data, vkey: vkey, record: rec,
		response: map[string]any{"data": map[string]any{"record": rec}, "extensions": map[string]any{"access": map[string]any{"id": "gateway:3"}}}}
}

func (f *verifyFixture) write(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(f.response)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "response.json")
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestVerifyCommand(t *testing.T) {
	f := newVerifyFixture(t)
	resp := f.write(t)
	pub := filepath.Join(t.TempDir(), "log.pub")
	if err := os.WriteFile(pub, []byte(f.vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	genesis := filepath.Join(t.TempDir(), "genesis.yaml")
	if err := os.WriteFile(genesis, schema.DemoGenesisYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"verify", "--data", f.data, resp},
		{"verify", resp, "--data", f.data}, // flags after the file
		{"verify", resp, "--log-key", f.vkey},
		{"verify", resp, "--log-key", "@" + pub, "--keys", genesis},
		{"verify", resp, "--log-key", "@" + filepath.Join(f.data, "log.key"), "--schemas", "demo"},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
			continue
		}
		for _, want := range []string{"1 record, 1 disclosed field, 7 redacted fields", "checkpoint: " + dev.Origin + " size 4 root ", "access entry: gateway:3", "ok: every record"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
}

func TestVerifyCommandReadsStdin(t *testing.T) {
	f := newVerifyFixture(t)
	b, _ := json.Marshal(f.response)
	old := verifyStdin
	defer func() { verifyStdin = old }()
	verifyStdin = strings.NewReader(string(b))
	if code, out, errOut := runCLI(t, "verify", "-", "--data", f.data); code != 0 || !strings.Contains(out, "standard input: 1 record") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestVerifyCommandReportsFailures(t *testing.T) {
	f := newVerifyFixture(t)
	f.record["fields"].([]any)[7].(map[string]any)["value"] = "divorced" // status
	f.record["leaf"] = 3
	code, out, errOut := runCLI(t, "verify", f.write(t), "--data", f.data)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		`FAIL data.record.fields[7].value: the value shown for field status ("divorced") is not the disclosed, signed value ("married")`,
		"FAIL data.record.proof: the proof is for leaf 2 but the record says leaf 3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "does not verify: 2 failures") {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestVerifyCommandUnknownSigner(t *testing.T) {
	f := newVerifyFixture(t)
	// A genesis in which civil-affairs has another key.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	gov := schema.DemoKey(schema.GovernanceID).Public().(ed25519.PublicKey)
	g := fmt.Sprintf("origin: x.example/log\ngovernance_key: %s\ndepartments:\n  - id: civil-affairs\n    keys:\n      - public_key: %s\n",
		base64.RawURLEncoding.EncodeToString(gov), base64.RawURLEncoding.EncodeToString(pub))
	genesis := filepath.Join(t.TempDir(), "genesis.yaml")
	if err := os.WriteFile(genesis, []byte(g), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "verify", f.write(t), "--data", f.data, "--keys", genesis)
	if code != 1 || !strings.Contains(out, "FAIL data.record.envelope: the key ring has no key") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestVerifyCommandErrors(t *testing.T) {
	f := newVerifyFixture(t)
	resp := f.write(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"data": {"record": `), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"verify"}, 2, "need exactly one response file"},
		{[]string{"verify", resp, resp, "--data", f.data}, 2, "need exactly one response file"},
		{[]string{"verify", resp, "--log-key", "not-a-key"}, 2, "--log-key is not a verifier key"},
		{[]string{"verify", resp, "--frobnicate"}, 2, "flag provided but not defined"},
		{[]string{"verify", resp, "--data", t.TempDir()}, 1, "no --log-key given"},
		{[]string{"verify", bad, "--data", f.data}, 1, "couldn't read the response: truncated JSON"},
		{[]string{"verify", filepath.Join(t.TempDir(), "missing.json"), "--data", f.data}, 1, "couldn't read the response"},
		{[]string{"verify", resp, "--data", f.data, "--keys", bad}, 1, "schema violation"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d (want %d), stderr lacks %q:\n%s%s", tc.args, code, tc.code, tc.msg, out, errOut)
		}
	}
}
