package graphiql

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	metaNonce = regexp.MustCompile(`<meta name="crossledger-style-nonce" content="([^"]+)">`)
	cspNonce  = regexp.MustCompile(`'nonce-([^']+)'`)
	linkRE    = regexp.MustCompile(`(?:src|href)="(/graphiql/[^"]+)" integrity="([^"]+)"`)
)

func TestPage(t *testing.T) {
	h := Handler("/graphql")
	res := get(t, h, "GET", "/")
	page := body(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("GET / = %d, want 200:\n%s", res.StatusCode, page)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
	m, c := metaNonce.FindStringSubmatch(page), cspNonce.FindStringSubmatch(csp)
	if m == nil || c == nil || m[1] != c[1] || len(c[1]) < 22 {
		t.Errorf("the page's style nonce %v does not match the CSP's %v", m, c)
	}
	if again := cspNonce.FindStringSubmatch(get(t, h, "GET", "/").Header.Get("Content-Security-Policy")); again == nil || c == nil || again[1] == c[1] {
		t.Errorf("the style nonce is not fresh per request: %v then %v", c, again)
	}

	for _, want := range []string{
		`<meta name="crossledger-graphql-endpoint" content="/graphql">`,
		`id="token"`, `type="password"`, `id="use-token"`, `id="forget-token"`, `id="token-status"`, `id="graphiql"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// No inline script or style: every <script> has a src, no style attribute or element.
	if n, m := strings.Count(page, "<script"), strings.Count(page, "<script defer src="); n != m || n != 4 {
		t.Errorf("the page has %d <script> elements, %d of them external; want 4, all external", n, m)
	}
	for _, bad := range []string{"style=", "<style", "javascript:", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if h := regexp.MustCompile(`\son[a-z]+=`).FindString(page); h != "" {
		t.Errorf("the page has an inline event handler %q", h)
	}
}

func TestPageEscapesEndpoint(t *testing.T) {
	page := body(t, get(t, Handler(`/q"><script>x</script>`), "GET", "/"))
	if strings.Contains(page, `"><script>x`) {
		t.Errorf("the endpoint was not escaped:\n%s", page)
	}
}

func TestAssets(t *testing.T) {
	h := Handler("/graphql")
	page := body(t, get(t, h, "GET", "/"))
	links := linkRE.FindAllStringSubmatch(page, -1)
	if len(links) != 6 {
		t.Fatalf("the page links %d assets, want 6 (2 styles, 4 scripts):\n%s", len(links), page)
	}
	for _, l := range links {
		url, integrity := html.UnescapeString(l[1]), html.UnescapeString(l[2])
		res := get(t, h, "GET", url)
		b := body(t, res)
		if res.StatusCode != 200 {
			t.Errorf("GET %s = %d", url, res.StatusCode)
			continue
		}
		wantType := "text/javascript; charset=utf-8"
		if strings.Contains(url, ".css?") {
			wantType = "text/css; charset=utf-8"
		}
		if got := res.Header.Get("Content-Type"); got != wantType {
			t.Errorf("GET %s: Content-Type %q, want %q", url, got, wantType)
		}
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s (versioned): Cache-Control %q", url, got)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", url, got)
		}
		sum := sha512.Sum384([]byte(b))
		if want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); integrity != want {
			t.Errorf("%s: integrity %s, body hashes to %s", url, integrity, want)
		}
	}

	// Unversioned (or stale) URLs are served, but must be revalidated.
	res := get(t, h, "GET", "/graphiql/app.js")
	etag := res.Header.Get("ETag")
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-cache" || etag == "" {
		t.Errorf("GET /graphiql/app.js = %d, Cache-Control %q, ETag %q; want 200, no-cache, an ETag",
			res.StatusCode, res.Header.Get("Cache-Control"), etag)
	}
	if res := get(t, h, "GET", "/graphiql/app.js?v=stale"); res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("a stale version is cacheable: %q", res.Header.Get("Cache-Control"))
	}
	if res := get(t, h, "GET", "/graphiql/app.js", "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s = %d, want 304", etag, res.StatusCode)
	}
	if res := get(t, h, "GET", "/graphiql/LICENSE.graphiql"); res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("GET /graphiql/LICENSE.graphiql = %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, target := range []string{"/", "/graphiql/graphiql.min.js"} {
		res := get(t, h, "HEAD", target)
		if b := body(t, res); res.StatusCode != 200 || b != "" || res.Header.Get("Content-Length") == "0" {
			t.Errorf("HEAD %s = %d with %d bytes of body, Content-Length %q", target, res.StatusCode, len(b), res.Header.Get("Content-Length"))
		}
	}
}

func TestAssetsGzip(t *testing.T) {
	h := Handler("/graphql")
	plain := get(t, h, "GET", "/graphiql/graphiql.min.js")
	plainBody := body(t, plain)
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip, deflate, br, zstd", true},
		{"br;q=1.0, GZIP;q=0.5", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	} {
		res := get(t, h, "GET", "/graphiql/graphiql.min.js", "Accept-Encoding", tc.accept)
		b := body(t, res)
		if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("Accept-Encoding %q: gzipped %t, want %t", tc.accept, got, tc.gzip)
			continue
		}
		if !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: no Vary: Accept-Encoding", tc.accept)
		}
		if !tc.gzip {
			if b != plainBody {
				t.Errorf("Accept-Encoding %q: body differs from the plain one", tc.accept)
			}
			continue
		}
		if res.Header.Get("ETag") == plain.Header.Get("ETag") {
			t.Errorf("the gzipped and plain bodies share the ETag %s", res.Header.Get("ETag"))
		}
		zr, err := gzip.NewReader(strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		unz, err := io.ReadAll(zr)
		if err != nil || string(unz) != plainBody {
			t.Errorf("the gzipped body does not inflate to the plain one (%v)", err)
		}
		if len(b) > len(plainBody)/2 {
			t.Errorf("gzip made %d bytes of %d", len(b), len(plainBody))
		}
	}
	if res := get(t, h, "GET", "/graphiql/LICENSE.react", "Accept-Encoding", "gzip"); res.Header.Get("Content-Encoding") != "" {
		t.Errorf("a licence was served %s", res.Header.Get("Content-Encoding"))
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := Handler("/graphql")
	for _, target := range []string{
		"/index.html", "/graphql", "/graphiql", "/graphiql/", "/graphiql/nope.js",
		"/graphiql/VERSIONS", "/graphiql/assets/app.js", "/graphiql/../index.html",
		"/graphiql/graphiql.min.js.map", "/graphiql/vendor.sh", "/static/app.js",
	} {
		res := get(t, h, "GET", target)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", target, res.StatusCode)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Content-Security-Policy") != assetCSP {
			t.Errorf("GET %s: 404 without the strict headers: %v", target, res.Header)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		for _, target := range []string{"/", "/graphiql/app.js"} {
			res := get(t, h, m, target)
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s = %d, Allow %q; want 405, GET, HEAD", m, target, res.StatusCode, res.Header.Get("Allow"))
			}
		}
	}
}

func TestHandlerRejectsForeignEndpoints(t *testing.T) {
	for _, ep := range []string{"", "graphql", "//evil.example/graphql", "https://evil.example/graphql", "/graphql?x=1", `\\evil`, "/a\nb"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handler(%q) did not panic", ep)
				}
			}()
			Handler(ep)
		}()
	}
}

// TestOwnFilesFetchNothing: the page's own script and style name no URL,
// and the vendored CSS loads nothing but data: URIs. (The minified
// libraries hold URLs in strings — licence notes, SVG namespaces — that
// are never fetched; the browser test checks that no request leaves
// 127.0.0.1.)
func TestOwnFilesFetchNothing(t *testing.T) {
	for _, name := range []string{"app.js", "app.css"} {
		b := string(assets[name].body)
		for _, bad := range []string{"http://", "https://", "//cdn", "import(", "url("} {
			if strings.Contains(b, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	css := string(assets["graphiql.min.css"].body)
	for _, m := range regexp.MustCompile(`url\(\s*['"]?([^'")]{0,16})`).FindAllStringSubmatch(css, -1) {
		if !strings.HasPrefix(m[1], "data:") {
			t.Errorf("graphiql.min.css loads url(%s…)", m[1])
		}
	}
	if strings.Contains(css, "@import") {
		t.Errorf("graphiql.min.css has an @import")
	}
}

// TestVendoredMatchesVERSIONS: the embedded vendored files are exactly
// those vendor.sh wrote, as recorded in assets/VERSIONS.
func TestVendoredMatchesVERSIONS(t *testing.T) {
	f, err := os.ReadFile("assets/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(f))
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 && fields[0] == "sha256" {
			listed[fields[2]] = fields[1]
		}
	}
	for _, pkg := range []string{"graphiql     3.", "react        18.", "react-dom    18."} {
		if !bytes.Contains(f, []byte("\n"+pkg)) {
			t.Errorf("VERSIONS does not name %q", pkg)
		}
	}
	seen := 0
	for name, a := range assets {
		if name == "app.js" || name == "app.css" {
			continue
		}
		seen++
		sum := sha256.Sum256(a.body)
		if want, ok := listed[name]; !ok {
			t.Errorf("%s is embedded but not in VERSIONS", name)
		} else if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: sha256 %s, VERSIONS says %s: re-run vendor.sh rather than editing", name, got, want)
		}
	}
	if seen != len(listed) {
		t.Errorf("%d vendored files embedded, VERSIONS lists %d", seen, len(listed))
	}
}
