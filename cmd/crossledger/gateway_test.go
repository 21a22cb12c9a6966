package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/verify"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
)

// TestGatewayCommand runs the production shape: `crossledger ingest` as its
// own process and `crossledger gateway` beside it, each from a YAML file,
// over the real broker. The gateway follows the log over HTTP, answers a
// granted query with a proof that verifies offline, and its access entry
// comes back through ingest into the ledger.
func TestGatewayCommand(t *testing.T) {
	broker := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	skey, vkey, err := merkle.GenerateKey("haidian.example/crossledger")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("log.key", skey+"\n")
	write("gateway.key", base64.RawURLEncoding.EncodeToString(schema.DemoKey("gateway").Seed())+"\n")
	issuer, err := auth.LoadOrCreateDevIssuer(filepath.Join(dir, "issuer.pem"), "test-issuer")
	if err != nil {
		t.Fatal(err)
	}
	pem := issuer.Config().Keys[0] // PEM text
	sfx := fmt.Sprintf(".cmdgw.%d", time.Now().UnixNano())
	common := fmt.Sprintf(`
kafka:
  brokers: %s
  topics: {changes: crossledger.changes%[2]s, access: crossledger.access%[2]s, receipts: crossledger.receipts%[2]s, rejected: crossledger.rejected%[2]s}
  partitions: 2
store:
  sqlite: {path: projection.db}
ledger_secret: %s
`, broker, sfx, hex.EncodeToString([]byte("ledger secret for the gateway cmd test")))
	ingestCfg := write("ingest.yaml", common+`
log:
  dir: log
  key_file: log.key
ingest:
  payload_dir: payloads
  batch_age: 5ms
  min_free_disk: 1MiB
metrics:
  listen: 127.0.0.1:0
`)
	in := startIngestProc(t, ctx, ingestCfg)
	waitUntil(t, ctx, "ingest ready", func() bool { code, _ := in.get(t, "/readyz"); return code == http.StatusOK })

	// Departments publish a grant and a record through their SDK.
	_, logVerifier, _ := merkle.NewSigner(skey)
	var wg sync.WaitGroup
	cctx, stopClients := context.WithCancel(ctx)
	defer func() { stopClients(); wg.Wait() }()
	client := func(dept string) *adapters.Client {
		c, err := adapters.Open(ctx, adapters.Config{
			Department: dept, Key: schema.DemoKey(dept), RecordSecret: schema.DemoSecret(dept), Catalog: schema.Demo(),
			LogVerifier: logVerifier, Brokers: []string{broker}, ChangesTopic: "crossledger.changes" + sfx,
			ReceiptsTopic: "crossledger.receipts" + sfx, OutboxPath: filepath.Join(dir, dept+".db"),
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(cctx) }()
		t.Cleanup(func() { c.Close() })
		return c
	}
	civil := client("civil-affairs")
	if _, err := civil.PublishEnvelope(ctx, &schema.Envelope{Kind: schema.KindGrant, Grant: &schema.Grant{
		Consumer: "real-estate", Purpose: "real-estate-transfer", Type: "marriage", Fields: []string{"marriage_id", "status"}}}, nil); err != nil {
		t.Fatal(err)
	}
	a, b := taxLegalRep(t, 1), taxLegalRep(t, 2)
	if _, err := civil.Publish(ctx, "marriage", schema.OpUpsert, map[string]string{
		"marriage_id": "M-9", "spouse_a_id": a, "spouse_a_name": "Hidden Name A", "spouse_b_id": b, "spouse_b_name": "Hidden Name B",
		"status": "married", "registered_on": "2011-11-11", "registry_office": "Haidian"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "receipts", func() bool { n, _ := civil.Pending(ctx); return n == 0 })

	gwCfg := write("gateway.yaml", common+fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  key_file: gateway.key
  outbox: gateway-outbox.db
  log_url: http://%s/
  log_public_key: %s
  purposes: [real-estate-transfer]
  issuers:
    - issuer: test-issuer
      keys:
        - |
%s
`, in.addr, vkey, indent(pem, "          ")))
	if code, out, errOut := runCLI(t, "gateway", "--config", gwCfg, "--check"); code != 0 {
		t.Fatalf("gateway --check: %d %q %q", code, out, errOut)
	}
	out := &syncBuffer{}
	genv := &cliEnv{stdout: out, stderr: out, logger: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	gctx, stopGateway := context.WithCancel(ctx)
	gdone := make(chan int, 1)
	go func() { gdone <- run(gctx, genv, []string{"gateway", "--config", gwCfg}) }()
	defer func() {
		stopGateway()
		select {
		case <-gdone:
		case <-time.After(10 * time.Second):
		}
	}()
	var url string
	waitUntil(t, ctx, "the gateway's address", func() bool {
		select {
		case code := <-gdone:
			t.Fatalf("gateway exited with %d: %s", code, out.String())
		default:
		}
		m := regexp.MustCompile(`GraphQL (http://\S+/graphql)`).FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})

	tok, err := issuer.Issue(auth.Identity{User: "clerk", Department: "real-estate", Roles: []auth.Role{auth.RoleAnalyst}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	query := func(q string, vars map[string]any) []byte {
		body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return raw
	}
	const recQ = `{ record(department: "civil-affairs", type: "marriage", key: ["M-9"], purpose: "real-estate-transfer") { leaf envelope proof fields { name value disclosure digest redacted } } }`
	var answer []byte
	waitUntil(t, ctx, "the record through the gateway", func() bool {
		answer = query(recQ, nil)
		return bytes.Contains(answer, []byte(`"value":"married"`))
	})
	if bytes.Contains(answer, []byte("Hidden Name")) {
		t.Fatalf("ungranted value in the answer: %s", answer)
	}
	rep, err := verify.Response(answer, logVerifier, mustKeyRing(t))
	if err != nil || !rep.OK() || rep.Records != 1 {
		t.Fatalf("offline verification: %v %+v", err, rep)
	}
	var parsed struct {
		Extensions struct {
			Access struct{ ID string } `json:"access"`
		} `json:"extensions"`
	}
	json.Unmarshal(answer, &parsed)
	if !strings.HasPrefix(parsed.Extensions.Access.ID, "gateway:") {
		t.Fatalf("no access id: %s", answer)
	}
	waitUntil(t, ctx, "the access entry in the ledger", func() bool {
		r := query(`query($id: ID!) { accessEntry(id: $id) { id purpose disclosed { leaf fields } proof } }`, map[string]any{"id": parsed.Extensions.Access.ID})
		return bytes.Contains(r, []byte(`"purpose":"real-estate-transfer"`)) && bytes.Contains(r, []byte(merkle.ProofHeader))
	})
	stopGateway()
	if code := <-gdone; code != 0 {
		t.Fatalf("gateway exit %d", code)
	}
	gdone <- 0
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

// taxLegalRep is a valid citizen id for i.
func taxLegalRep(t *testing.T, i int) string {
	t.Helper()
	first := fmt.Sprintf("11010819800101%03d", i)
	c, err := schema.CitizenIDCheck(first)
	if err != nil {
		t.Fatal(err)
	}
	return first + string(c)
}

func mustKeyRing(t *testing.T) *schema.KeyRing {
	g, err := schema.DemoGenesis()
	if err != nil {
		t.Fatal(err)
	}
	r, err := schema.NewKeyRing(g)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
