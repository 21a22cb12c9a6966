package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/internal/dev"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

var grantBase = []string{"grant", "--owner", "civil-affairs", "--consumer", "real-estate", "--purpose", "real-estate-transfer", "--type", "marriage"}

func grantArgs(extra ...string) []string { return append(slices.Clone(grantBase), extra...) }

func TestGrantUsageErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "grant.json")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"grant", "--consumer", "real-estate", "--purpose", "p", "--type", "marriage", "--fields", "status", "--demo", "--out", out, "--seq", "1"}, "--owner is required"},
		{grantArgs("--demo", "--out", out, "--seq", "1"), "--fields is required for a grant"},
		{grantArgs("--fields", "status", "--out", out, "--seq", "1"), "exactly one of --key FILE and --demo"},
		{grantArgs("--fields", "status", "--demo", "--key", "k", "--out", out, "--seq", "1"), "exactly one of --key FILE and --demo"},
		{grantArgs("--fields", "status", "--demo", "--out", out), "--out needs --seq N"},
		{grantArgs("--fields", "status", "--demo", "--seq", "3", "--outbox", "o.db", "--brokers", "b:9092"), "--seq is only for --out"},
		{grantArgs("--fields", "status", "--demo"), "give --outbox and --brokers"},
		{grantArgs("--fields", "status", "--demo", "--out", out, "--seq", "1", "--outbox", "o.db"), "drop --outbox and --brokers"},
		{grantArgs("--fields", "status", "--demo", "--revoke", "--expires", "2099-01-01T00:00:00Z", "--out", out, "--seq", "1"), "a revoke has neither"},
		{grantArgs("--fields", "status", "--demo", "--expires", "2020-01-01T00:00:00Z", "--out", out, "--seq", "1"), "has already passed"},
		{grantArgs("--fields", "status", "--demo", "--expires", "tomorrow", "--out", out, "--seq", "1"), "not an RFC 3339 time"},
		{grantArgs("--fields", "status", "--demo", "--condition", "everyone", "--out", out, "--seq", "1"), `unknown condition "everyone"`},
		{grantArgs("--fields", "status,wealth", "--demo", "--out", out, "--seq", "1"), `has no field "wealth" (its fields: marriage_id,`},
		{grantArgs("--fields", "status", "--demo", "--purpose", "Real Estate", "--out", out, "--seq", "1"), "grant.purpose"},
		{[]string{"grant", "--owner", "civil-affairs", "--consumer", "real-estate", "--purpose", "p", "--type", "title", "--fields", "x", "--demo", "--out", out, "--seq", "1"}, `civil-affairs has no record type "title" (its types: marriage)`},
		{[]string{"grant", "--owner", "nobody", "--consumer", "real-estate", "--purpose", "p", "--type", "t", "--fields", "x", "--demo", "--out", out, "--seq", "1"}, "department nobody is not in the catalog"},
		{[]string{"grant", "--owner", "tax", "--consumer", "tax", "--purpose", "p", "--type", "tax-credit", "--fields", "year", "--demo", "--out", out, "--seq", "1"}, "sees its own records without a grant"},
		{grantArgs("--fields", "status", "--demo", "--out", out, "--seq", "1", "extra"), "unexpected arguments"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d (want 2), stderr lacks %q:\n%s%s", tc.args, code, tc.msg, stdout, stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused grant wrote its output file")
	}
}

// readMessage decodes a written grant strictly and verifies its signature
// under pub.
func readMessage(t *testing.T, b []byte, pub ed25519.PublicKey) *schema.Envelope {
	t.Helper()
	m, err := schema.DecodeMessage(b) // as written: what submitGrant gets
	if err != nil {
		t.Fatalf("message does not decode: %v\n%s", err, b)
	}
	if len(m.Disclosures) != 0 {
		t.Errorf("a grant with disclosures: %q", m.Disclosures)
	}
	env, err := schema.DecodeEnvelope(m.Envelope)
	if err != nil {
		t.Fatalf("envelope does not decode: %v", err)
	}
	if err := schema.Verify(env, pub); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return env
}

func TestGrantOutDemo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "grant.json")
	code, stdout, stderr := runCLI(t, grantArgs("--fields", " status,spouse_a_id,status,", "--expires", "2099-01-01T08:00:00+08:00",
		"--condition", "subject", "--demo", "--out", out, "--seq", "7")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := readMessage(t, b, schema.DemoKey("civil-affairs").Public().(ed25519.PublicKey))
	want := schema.Grant{Consumer: "real-estate", Purpose: "real-estate-transfer", Type: "marriage",
		Fields: []string{"spouse_a_id", "status"}, Expires: "2099-01-01T00:00:00Z", Condition: "subject"}
	if env.Kind != schema.KindGrant || env.Department != "civil-affairs" || env.Seq != 7 || env.Grant == nil ||
		!slices.Equal(env.Grant.Fields, want.Fields) || env.Grant.Expires != want.Expires || env.Grant.Condition != want.Condition ||
		env.Grant.Consumer != want.Consumer || env.Grant.Purpose != want.Purpose || env.Grant.Type != want.Type {
		t.Errorf("envelope %+v grant %+v, want %+v", env, env.Grant, want)
	}
	// The demo genesis resolves the key, as ingest and the gateway will.
	g, _ := schema.DemoGenesis()
	ring, _ := schema.NewKeyRing(g)
	if err := schema.VerifyEnvelope(env, ring, 0); err != nil {
		t.Errorf("demo key ring: %v", err)
	}
	if !strings.Contains(stdout, "civil-affairs seq 7: grant signed with key "+env.KeyID) || !strings.Contains(stdout, "submitGrant") {
		t.Errorf("stdout: %s", stdout)
	}
}

func TestGrantRevokeToStdoutWithKeyFile(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "keygen", "department", "--id", "civil-affairs", "--out", dir); code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	keyFile := filepath.Join(dir, "civil-affairs.key")
	code, stdout, stderr := runCLI(t, grantArgs("--revoke", "--key", keyFile, "--out", "-", "--seq", "2")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	s, _ := keyfile.Read(keyFile)
	seed, _ := base64.RawURLEncoding.DecodeString(s)
	env := readMessage(t, []byte(stdout), ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	if env.Kind != schema.KindRevoke || env.Revoke == nil || len(env.Revoke.Fields) != 0 || env.Seq != 2 {
		t.Errorf("envelope %+v revoke %+v", env, env.Revoke)
	}
	if !strings.Contains(stderr, "civil-affairs seq 2: revoke signed") {
		t.Errorf("stderr: %s", stderr)
	}
	os.WriteFile(keyFile+".bad", []byte("not a key\n"), 0o600)
	if code, _, stderr := runCLI(t, grantArgs("--revoke", "--key", keyFile+".bad", "--out", "-", "--seq", "2")...); code != 1 || !strings.Contains(stderr, "not a base64url Ed25519 seed") {
		t.Errorf("bad key file: exit %d, %s", code, stderr)
	}
}

// TestGrantPublishes publishes a grant through an outbox to a real broker
// and ingest, and waits for the verified receipt.
func TestGrantPublishes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := ingesttest.Broker(t)
	cfg := ingesttest.Topics(ingest.Config{Brokers: []string{addr}, BatchAge: 2 * time.Millisecond}, ingesttest.Suffix("grant"))
	data := t.TempDir()
	skey, err := dev.LogKey(filepath.Join(data, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.PayloadDir = filepath.Join(data, "payloads")
	l, err := merkle.Open(ctx, filepath.Join(data, "log"), merkle.Options{SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g, _ := schema.DemoGenesis()
	ring, _ := schema.NewKeyRing(g)
	in, err := ingest.New(ctx, cfg, ingest.Deps{Log: l, Catalog: schema.Demo(), Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil && rctx.Err() == nil {
			t.Errorf("ingest: %v", err)
		}
	}()
	for _, topic := range []string{cfg.ChangesTopic, cfg.ReceiptsTopic} {
		if _, err := ingest.Partitions(ctx, cfg.Brokers, topic); err != nil {
			t.Fatal(err)
		}
	}
	outbox := filepath.Join(t.TempDir(), "civil-affairs.db")
	publish := func(extra ...string) (int, string, string) {
		args := grantArgs(append([]string{"--demo", "--outbox", outbox, "--brokers", addr, "--data", data,
			"--changes-topic", cfg.ChangesTopic, "--receipts-topic", cfg.ReceiptsTopic, "--timeout", "60s"}, extra...)...)
		return runCLI(t, args...)
	}
	code, stdout, stderr := publish("--fields", "status")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "civil-affairs seq 1: logged at leaf 0 (receipt proof verified)") {
		t.Errorf("stdout: %s", stdout)
	}
	// The outbox keeps the seq dense: the revoke is seq 2.
	code, stdout, stderr = publish("--revoke")
	if code != 0 || !strings.Contains(stdout, "civil-affairs seq 2: logged at leaf 1") {
		t.Fatalf("revoke: exit %d\n%s%s", code, stdout, stderr)
	}
	e, err := l.Entry(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	env, err := schema.DecodeEnvelope(e)
	if err != nil || env.Kind != schema.KindRevoke || env.Seq != 2 {
		t.Fatalf("leaf 1: %v %+v", err, env)
	}
}
