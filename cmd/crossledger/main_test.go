package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/internal/dev"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/sqlite"

	"github.com/crossledger/crossledger/adapters/demo"
	"github.com/crossledger/crossledger/merkle"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	code = run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestHelpListsEveryCommand(t *testing.T) {
	code, out, _ := runCLI(t, "help")
	if code != 0 {
		t.Fatalf("help exit %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("help does not list %q:\n%s", c.name, out)
		}
		// Every subcommand answers --help with its usage and exit 0.
		code, _, errOut := runCLI(t, c.name, "--help")
		if code != 0 || !strings.Contains(errOut, "Usage: crossledger "+c.name) {
			t.Errorf("%s --help: exit %d, output %q", c.name, code, errOut)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"broker", "--no-such-flag"},
		{"keygen"},
		{"keygen", "wat"},
		{"schema", "check"},
		{"log", "frobnicate"},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestKeygenLogMakesAWorkingKeyAndNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "keygen", "log", "--origin", "test.example/log", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	skey, err := keyfile.Read(filepath.Join(dir, "test.example_log.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := merkle.NewSigner(skey); err != nil {
		t.Fatalf("generated key does not load: %v", err)
	}
	if !strings.Contains(out, "test.example/log+") {
		t.Errorf("output lacks the verifier key: %s", out)
	}
	if st, _ := os.Stat(filepath.Join(dir, "test.example_log.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("signer key mode %v, want 0600", st.Mode().Perm())
	}
	if code, _, errOut := runCLI(t, "keygen", "log", "--origin", "test.example/log", "--out", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("second keygen: exit %d, %q; want a refusal to overwrite", code, errOut)
	}
	// A keygen stopped between its two files left the key alone: the
	// next one writes the verifier from it and keeps the key.
	pub := filepath.Join(dir, "test.example_log.pub")
	want, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(pub)
	if code, _, errOut := runCLI(t, "keygen", "log", "--origin", "test.example/log", "--out", dir); code != 0 {
		t.Fatalf("keygen after a lost .pub: exit %d, %s", code, errOut)
	}
	if got, _ := os.ReadFile(pub); string(got) != string(want) {
		t.Fatalf("rewritten verifier %q, want %q", got, want)
	}
	if again, _ := keyfile.Read(filepath.Join(dir, "test.example_log.key")); again != skey {
		t.Fatal("the signer key changed")
	}
}

func TestSchemaCheckReportsFileAndLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("id: tax\nname: Tax\ntypes:\n  - name: credit\n    version: 1\n    key: [id]\n    fields:\n      - name: id\n        type: nosuchtype\n        required: true\n"), 0o644)
	code, _, errOut := runCLI(t, "schema", "check", bad)
	if code != 1 || !strings.Contains(errOut, "bad.yaml") || !strings.Contains(errOut, ":9") {
		t.Fatalf("exit %d, %q: want an error naming bad.yaml line 9", code, errOut)
	}
	// The demo set written out by `schema demo --out` checks clean.
	if code, _, errOut := runCLI(t, "schema", "demo", "--out", dir+"/demo"); code != 0 {
		t.Fatalf("schema demo --out: %s", errOut)
	}
	code, out, errOut := runCLI(t, "schema", "check", dir+"/demo/departments")
	if code != 0 || !strings.Contains(out, "6 departments") {
		t.Fatalf("exit %d out %q err %q", code, out, errOut)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDevStartsAndResumes runs `dev` twice on one data directory with no
// update stream: the first run publishes the demo data set through the
// SDK, ingest logs it and the projector catches up; the second run finds
// the same key, log and outboxes, publishes nothing again and serves the
// same checkpoint.
func TestDevStartsAndResumes(t *testing.T) {
	data := t.TempDir()
	const citizens, seed = 20, 5
	want := uint64(len(demo.New(seed, citizens).Initial()))
	for _, gs := range demo.Grants() {
		want += uint64(len(gs)) // each owner's demo grants come first
	}
	progress := regexp.MustCompile(`progress: log (\d+) entries, projected (\d+), outbox pending (\d+), rejected (\d+)`)
	var first []string
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		env := &cliEnv{stdout: out, stderr: io.Discard, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, env, []string{"dev", "--data", data, "--broker", "127.0.0.1:0", "--http", "127.0.0.1:0",
				"--rate", "0", "--citizens", fmt.Sprint(citizens), "--seed", fmt.Sprint(seed), "--progress", "100ms"})
		}()
		deadline := time.Now().Add(30 * time.Second)
		wait := func(what string, cond func() bool) {
			t.Helper()
			for !cond() {
				select {
				case code := <-done:
					t.Fatalf("run %d: dev exited with %d waiting for %s: %s", i, code, what, out.String())
				case <-time.After(50 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("run %d: no %s within 30s: %s", i, what, out.String())
				}
			}
		}
		wait("tile API", func() bool { return strings.Contains(out.String(), "tile API") })
		if i == 1 && !strings.Contains(out.String(), "initial data set already published") {
			t.Errorf("second run does not see the published data set:\n%s", out.String())
		}
		url := "http://" + regexp.MustCompile(`http://(\S+)/checkpoint`).FindStringSubmatch(out.String())[1] + "/checkpoint"
		var cp []string
		wait("full log", func() bool {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return false // no checkpoint cosigned yet (dev announces itself after the first, so this is rare)
			}
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), dev.Origin+"\n") {
				t.Fatalf("run %d: checkpoint %d %q", i, resp.StatusCode, body)
			}
			cp = strings.SplitN(string(body), "\n", 4)
			n, _ := strconv.ParseUint(cp[1], 10, 64)
			if n > want {
				t.Fatalf("run %d: log holds %d entries, more than the %d of the data set", i, n, want)
			}
			return n == want
		})
		// Projection caught up, every receipt verified, nothing rejected.
		wait("projection and outboxes caught up", func() bool {
			ms := progress.FindAllStringSubmatch(out.String(), -1)
			if len(ms) == 0 {
				return false
			}
			m := ms[len(ms)-1]
			if m[4] != "0" {
				t.Fatalf("run %d: rejections: %s", i, m[0])
			}
			return m[1] == fmt.Sprint(want) && m[2] == fmt.Sprint(want) && m[3] == "0"
		})
		if i == 0 {
			first = cp[:3]
		} else if !slices.Equal(cp[:3], first) {
			t.Fatalf("second run serves another tree:\n%q\nvs\n%q", cp[:3], first)
		}
		if i == 1 {
			// The printed token and example answer a person query with
			// proofs, and the access lands in the ledger as one more
			// entry.
			devGatewayQuery(t, out.String())
			want++
			wait("the access entry logged and projected", func() bool {
				ms := progress.FindAllStringSubmatch(out.String(), -1)
				m := ms[len(ms)-1]
				return m[1] == fmt.Sprint(want) && m[2] == fmt.Sprint(want) && m[3] == "0"
			})
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("run %d exit %d: %s", i, code, out.String())
		}
		if !strings.Contains(out.String(), "stopping") {
			t.Errorf("run %d: no stopping line", i)
		}
	}

	// The stopped ledger reprojects into a new SQLite file with the same
	// records as dev's own projection.
	rebuilt := filepath.Join(t.TempDir(), "rebuilt.db")
	code, out, errOut := runCLI(t, "reproject", "--data", data, "--sqlite", rebuilt)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("reprojected %d entries", want)) {
		t.Fatalf("reproject: exit %d, %q, %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "100%") {
		t.Errorf("reproject showed no progress: %q", errOut)
	}
	ctx := context.Background()
	orig, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(data, "projection.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	again, err := sqlite.Open(ctx, sqlite.Config{Path: rebuilt})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for _, d := range schema.Demo().Departments() {
		dept, _ := schema.Demo().Department(d)
		for _, rt := range dept.Types {
			a, err := orig.List(ctx, d, rt.Name, store.ListQuery{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			b, err := again.List(ctx, d, rt.Name, store.ListQuery{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Records) == 0 || !reflect.DeepEqual(a.Records, b.Records) {
				t.Errorf("%s/%s: dev projected %d records, reproject %d (or they differ)", d, rt.Name, len(a.Records), len(b.Records))
			}
		}
	}
	// A second reproject into the same file is refused.
	if code, _, errOut := runCLI(t, "reproject", "--data", data, "--sqlite", rebuilt); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("reproject over an existing store: exit %d, %q", code, errOut)
	}
}

// devGatewayQuery runs the banner's example person query with the banner's
// token against dev's gateway and checks records with proofs come back.
func devGatewayQuery(t *testing.T, banner string) {
	t.Helper()
	gw := regexp.MustCompile(`(?m)^  gateway    (http://\S+/graphql)`).FindStringSubmatch(banner)
	tok := regexp.MustCompile(`(?m)^  token      (\S+)$`).FindStringSubmatch(banner)
	ex := regexp.MustCompile(`(?m)^  example    (person\(citizenId: "[0-9X]+", purpose: "real-estate-transfer"\))$`).FindStringSubmatch(banner)
	if gw == nil || tok == nil || ex == nil {
		t.Fatalf("banner lacks gateway, token or example:\n%s", banner)
	}
	q := "{ " + ex[1] + " { departments { department records { type leaf fields { name value redacted } proof } } } }"
	body, _ := json.Marshal(map[string]string{"query": q})
	req, _ := http.NewRequest(http.MethodPost, gw[1], bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(raw, []byte(`"errors"`)) || !bytes.Contains(raw, []byte("c2sp.org/tlog-proof@v1")) ||
		!bytes.Contains(raw, []byte(`"access":{"id":"gateway:`)) {
		t.Fatalf("person query: %d %s", resp.StatusCode, raw)
	}
}
