package ops_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/ops/testenv"
)

// The lines of `crossledger dev`'s banner this test reads (two spaces of
// indent, then the name padded to 11 columns):
//
//	graphiql   http://127.0.0.1:PORT/
//	token      <JWT>
//	example    person(citizenId: "<ID>", purpose: "real-estate-transfer")
//
// and the simulator's report that the initial data set is in.
var (
	graphiqlLine  = regexp.MustCompile(`^  graphiql\s+(http://\S+)\s*$`)
	tokenLine     = regexp.MustCompile(`^  token\s+(\S+)\s*$`)
	exampleLine   = regexp.MustCompile(`^  example\s+.*person\(citizenId:\s*"([^"]+)"`)
	publishedLine = regexp.MustCompile(`published the initial data set|initial data set already published`)
)

// TestBrowserGraphiQL is the gateway's acceptance test: headless Chromium
// (Debian's), driven by Playwright (ops/browser/graphiql.mjs), loads
// GraphiQL from a real `crossledger dev`, enters the token dev printed,
// runs a person query of the citizen dev printed, and must see a
// c2sp.org/tlog-proof@v1 bundle in the result, with no request leaving
// 127.0.0.1.
func TestBrowserGraphiQL(t *testing.T) {
	bin := testenv.Binary(t)
	script := needBrowser(t)

	artifacts := os.Getenv("CROSSLEDGER_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	args := []string{"dev", "--data", data, "--broker", freeAddr(t), "--http", freeAddr(t), "--rate", "0", "--citizens", "20"}
	dev := exec.CommandContext(ctx, bin, args...)
	// Stop it as a person would (Ctrl-C), so that it shuts down in order.
	dev.Cancel = func() error { return dev.Process.Signal(os.Interrupt) }
	dev.WaitDelay = 30 * time.Second
	var stderr lockedBuffer
	dev.Stderr = &stderr
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("starting %s %s", bin, strings.Join(args, " "))
	if err := dev.Start(); err != nil {
		t.Fatalf("couldn't start crossledger dev: %v", err)
	}
	var out lockedBuffer // everything dev printed, for failure messages
	lines := make(chan string, 1024)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			select {
			case lines <- sc.Text():
			default: // nobody is reading any more: progress lines
			}
		}
		exited <- dev.Wait()
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-exited
	}
	defer func() {
		stop()
		os.WriteFile(filepath.Join(artifacts, "dev.stdout"), []byte(out.String()), 0o644)
		os.WriteFile(filepath.Join(artifacts, "dev.stderr"), []byte(stderr.String()), 0o644)
		if t.Failed() {
			t.Logf("crossledger dev's stdout:\n%s\nits stderr (last 4 KiB):\n%s", out.String(), tail(stderr.String(), 4096))
		}
	}()

	var pageURL, token, citizen string
	published := false
	startDeadline := time.After(5 * time.Minute)
	var grace <-chan time.Time // after publishing: the banner lines are due by then
	for pageURL == "" || token == "" || citizen == "" || !published {
		if published && grace == nil {
			grace = time.After(15 * time.Second)
		}
		select {
		case l := <-lines:
			if m := graphiqlLine.FindStringSubmatch(l); m != nil {
				pageURL = m[1]
			} else if m := tokenLine.FindStringSubmatch(l); m != nil {
				token = m[1]
			} else if m := exampleLine.FindStringSubmatch(l); m != nil {
				citizen = m[1]
			} else if publishedLine.MatchString(l) {
				published = true
			}
		case err := <-exited:
			stopped = true
			exited <- err
			t.Fatalf("crossledger dev exited (%v) before it printed all of: graphiql URL %t, token %t, example citizen %t, initial data set published %t",
				err, pageURL != "", token != "", citizen != "", published)
		case <-grace:
			t.Fatalf("crossledger dev published the initial data set but did not print all of: a %q line %t, a %q line %t, an %q line %t",
				"  graphiql   http://127.0.0.1:PORT/", pageURL != "",
				"  token      <JWT>", token != "",
				`  example    person(citizenId: "<ID>", …)`, citizen != "")
		case <-startDeadline:
			t.Fatalf("crossledger dev did not print within 5 minutes all of: a %q line %t, a %q line %t, an %q line %t, that the initial data set is published %t",
				"  graphiql   http://127.0.0.1:PORT/", pageURL != "",
				"  token      <JWT>", token != "",
				`  example    person(citizenId: "<ID>", …)`, citizen != "", published)
		}
	}
	t.Logf("GraphiQL at %s; querying citizen %s", pageURL, citizen)

	query := fmt.Sprintf(`query Person {
  person(citizenId: %q, purpose: "real-estate-transfer") {
    subject
    departments {
      department
      records { type key leaf fields { name value redacted } proof }
    }
  }
}
`, citizen)
	shot := filepath.Join(artifacts, "graphiql-dev.png")
	node := exec.CommandContext(ctx, "node", script)
	node.Env = append(os.Environ(),
		"GRAPHIQL_URL="+pageURL,
		"GATEWAY_TOKEN="+token,
		"PERSON_QUERY="+query,
		"SCREENSHOT="+shot,
		"TIMEOUT_MS=180000",
	)
	res, err := node.CombinedOutput()
	t.Logf("node %s:\n%s", script, res)
	if err != nil {
		t.Fatalf("GraphiQL from crossledger dev did not show a proof for the person query (%v); screenshot %s", err, shot)
	}
}

// needBrowser is testenv.Browser: the script, or a skip (a failure under
// make test) when node, Playwright or Chromium is missing.
func needBrowser(t *testing.T) string { return testenv.Browser(t) }

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
