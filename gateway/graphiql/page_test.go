package graphiql

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/ops/testenv"
)

// TestPageInBrowser is a test of the page, not of the gateway: it serves
// [Handler] beside a fake GraphQL endpoint that answers the person query
// with a canned response holding a tlog-proof, and has ops/browser's
// script (headless Debian Chromium driven by Playwright) enter the token,
// run the query in GraphiQL and find the proof in the result pane, with
// no request leaving 127.0.0.1 and no CSP violation. The acceptance test
// against `crossledger dev` is ops.TestBrowserGraphiQL.
//
// It needs node, ops/browser/node_modules (npm ci) and /usr/bin/chromium,
// which `make test` installs; without them it skips, or fails when
// CROSSLEDGER_REQUIRE_SERVICES=1.
func TestPageInBrowser(t *testing.T) {
	script := needBrowser(t)

	const token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbmFseXN0LTEiLCJkZXBhcnRtZW50IjoicmVhbC1lc3RhdGUiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"
	const proof = "c2sp.org/tlog-proof@v1\nindex 7\n…"

	var mu sync.Mutex
	var seen []string // Authorization headers of person queries
	mux := http.NewServeMux()
	mux.HandleFunc("POST /graphql", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query string `json:"query"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": "a bearer token is required"}}})
			return
		}
		if !strings.Contains(req.Query, "person(") {
			// Introspection and anything else: the page must cope with errors.
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": "the fake endpoint answers person queries only"}}})
			return
		}
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"person": map[string]any{
			"subject": "c3ViamVjdA",
			"departments": []any{map[string]any{
				"department": "civil-affairs",
				"records": []any{map[string]any{
					"type": "marriage", "key": []string{"110101199003070011"}, "leaf": 7,
					"fields": []any{
						map[string]any{"name": "status", "value": "married", "redacted": false},
						map[string]any{"name": "spouse", "value": nil, "redacted": true},
					},
					"proof": proof,
				}},
			}},
		}}})
	})
	mux.Handle("/", Handler("/graphql"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	shot := filepath.Join(t.TempDir(), "graphiql-page.png")
	if dir := os.Getenv("CROSSLEDGER_TEST_ARTIFACTS"); dir != "" {
		shot = filepath.Join(dir, "graphiql-page.png")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(),
		"GRAPHIQL_URL=http://"+ln.Addr().String()+"/",
		"GATEWAY_TOKEN="+token,
		"CITIZEN_ID=110101199003070011",
		"SCREENSHOT="+shot,
		"TIMEOUT_MS=90000",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node %s:\n%s", script, out)
	if err != nil {
		t.Fatalf("the page did not work in the browser: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the fake endpoint never answered a person query with the token")
	}
}

// needBrowser is testenv.Browser: the script, or a skip (a failure under
// make test) when node, Playwright or Chromium is missing.
func needBrowser(t *testing.T) string { return testenv.Browser(t) }
