// Package graphiql serves GraphiQL, the in-browser GraphQL IDE, for the
// gateway's analysts: one page at "/" and its assets under "/graphiql/",
// all embedded in the binary.
//
// # What is served
//
//	GET /                               the page (HTML, per-request style nonce, no-store)
//	GET /graphiql/app.js, app.css       the page's own script and style (static/)
//	GET /graphiql/graphiql.min.js, …    GraphiQL 3, React 18, ReactDOM 18 (assets/, vendored)
//	GET /graphiql/LICENSE.<package>     the vendored packages' licences
//
// The page links each asset as /graphiql/<name>?v=<hash> with a
// Subresource Integrity digest; a request whose v matches the embedded
// content's hash is cacheable for a year (immutable), any other for no
// time without revalidation (ETag). Scripts and styles go gzipped to
// clients that take it (compressed once, on first request).
//
// Nothing is fetched from anywhere but the page's own origin: the
// Content-Security-Policy allows scripts, styles and connections to
// 'self' only (fonts: data: URIs inside GraphiQL's CSS), with no inline
// script at all.
//
// # The page
//
// A token bar on top, the form #token-bar: a password field (#token), a
// "use token" submit button (#use-token), a "forget" button
// (#forget-token) and a status line (#token-status, data-state "none" or
// "set"); GraphiQL below (#graphiql), which fetches the schema again
// when the token changes (introspection needs a caller). The
// token is kept in the tab's sessionStorage, never in localStorage, a
// cookie or the URL, and every request GraphiQL makes is a POST to the
// endpoint with "Authorization: Bearer <token>". GraphiQL's own headers
// editor is switched off so that the token has one home.
//
// GraphiQL 3's editors are CodeMirror 5; a browser test reads and sets
// their text through the CodeMirror instance on the editor element
// (".graphiql-query-editor .CodeMirror", ".graphiql-response
// .CodeMirror"), and runs the query with ".graphiql-execute-button".
//
// # Vendored assets
//
// assets/ is written by vendor.sh from the npm registry; assets/VERSIONS
// names the packages, versions and licences and the sha256 of every file,
// which the tests check against what is embedded.
package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AssetPrefix is the path under which the page's assets are served.
const AssetPrefix = "/graphiql/"

//go:embed index.html
var pageSource string

//go:embed assets/*.js assets/*.css assets/LICENSE.* static/*.js static/*.css
var files embed.FS

// asset is one embedded file as served.
type asset struct {
	name        string
	body        []byte
	contentType string
	hash        string // hex SHA-256, first 16 digits: the ?v= of the page's links and the ETag
	integrity   string // Subresource Integrity (sha384) for <script> and <link>

	gzipOnce sync.Once
	gz       []byte // body, gzipped on first request (scripts and styles only); nil if not worth it
}

// gzipped returns the body gzipped, or nil when it is not served so.
func (a *asset) gzipped() []byte {
	a.gzipOnce.Do(func() {
		if strings.HasPrefix(a.contentType, "text/plain") || len(a.body) < 1024 {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(a.body)
		zw.Close()
		if buf.Len() < len(a.body)*9/10 {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

// The assets, by name; built once from the embedded files.
var assets = mustLoadAssets()

func mustLoadAssets() map[string]*asset {
	m := make(map[string]*asset)
	for _, dir := range []string{"assets", "static"} {
		entries, err := fs.ReadDir(files, dir)
		if err != nil {
			panic(fmt.Sprintf("graphiql: couldn't read embedded %s: %v", dir, err))
		}
		for _, e := range entries {
			body, err := fs.ReadFile(files, path.Join(dir, e.Name()))
			if err != nil {
				panic(fmt.Sprintf("graphiql: couldn't read embedded %s/%s: %v", dir, e.Name(), err))
			}
			if _, dup := m[e.Name()]; dup {
				panic(fmt.Sprintf("graphiql: %s is both in assets/ and static/", e.Name()))
			}
			sum := sha256.Sum256(body)
			sri := sha512.Sum384(body)
			m[e.Name()] = &asset{
				name:        e.Name(),
				body:        body,
				contentType: contentType(e.Name()),
				hash:        hex.EncodeToString(sum[:8]),
				integrity:   "sha384-" + base64.StdEncoding.EncodeToString(sri[:]),
			}
		}
	}
	return m
}

func contentType(name string) string {
	switch {
	case strings.HasPrefix(name, "LICENSE."):
		return "text/plain; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".css"):
		return "text/css; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

var page = template.Must(template.New("index.html").Funcs(template.FuncMap{
	// src is an asset's URL, versioned by its content.
	"src": func(name string) (string, error) {
		a, err := linked(name)
		if err != nil {
			return "", err
		}
		return AssetPrefix + a.name + "?v=" + a.hash, nil
	},
	// sri is an asset's Subresource Integrity digest.
	"sri": func(name string) (string, error) {
		a, err := linked(name)
		if err != nil {
			return "", err
		}
		return a.integrity, nil
	},
}).Parse(pageSource))

func linked(name string) (*asset, error) {
	a, ok := assets[name]
	if !ok {
		return nil, fmt.Errorf("graphiql: the page links %q, which is not embedded", name)
	}
	return a, nil
}

// pageData is what index.html is executed with.
type pageData struct {
	Endpoint string
	Nonce    string
}

// Handler returns the handler for GraphiQL's page at "/" and its assets
// under [AssetPrefix]. Every other path is a 404, every method but GET
// and HEAD a 405: mount it on the gateway's mux at "/" after (beside) the
// endpoint's own route.
//
// endpoint is the path of the GraphQL endpoint on the same origin, e.g.
// "/graphql"; the page's Content-Security-Policy lets it connect nowhere
// else. Handler panics if endpoint is not such a path (a programming error,
// as with [http.ServeMux] patterns).
func Handler(endpoint string) http.Handler {
	if err := checkEndpoint(endpoint); err != nil {
		panic(err)
	}
	// Render once up front so that a broken template or a missing asset
	// fails at start, not on the first request.
	if _, err := render(endpoint, "check"); err != nil {
		panic(err)
	}
	return &handler{endpoint: endpoint}
}

func checkEndpoint(endpoint string) error {
	if !strings.HasPrefix(endpoint, "/") || strings.HasPrefix(endpoint, "//") ||
		strings.ContainsAny(endpoint, "\\?#\x00\r\n") {
		return fmt.Errorf("graphiql: endpoint %q must be an absolute path on the page's own origin, like \"/graphql\"", endpoint)
	}
	return nil
}

type handler struct {
	endpoint string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	switch p := r.URL.Path; {
	case p == "/":
		if !allowMethod(w, r) {
			return
		}
		h.servePage(w, r)
	case strings.HasPrefix(p, AssetPrefix):
		a, ok := assets[strings.TrimPrefix(p, AssetPrefix)]
		if !ok {
			notFound(w, r)
			return
		}
		if !allowMethod(w, r) {
			return
		}
		serveAsset(w, r, a)
	default:
		notFound(w, r)
	}
}

func allowMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	w.Header().Set("Content-Security-Policy", assetCSP)
	http.Error(w, "405 method not allowed: GraphiQL's page and assets answer GET and HEAD only", http.StatusMethodNotAllowed)
	return false
}

func notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", assetCSP)
	http.NotFound(w, r)
}

// assetCSP is the policy of every response but the page: nothing in it
// may load or run anything.
const assetCSP = "default-src 'none'; frame-ancestors 'none'"

// pageCSP is the page's policy. GraphiQL needs no inline script and no
// eval; its CSS embeds its fonts as data: URIs. The one inline thing it
// makes is a <style> element (react-remove-scroll, when a dialog opens),
// which carries the per-request nonce that app.js hands it.
func pageCSP(nonce string) string {
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self' 'nonce-" + nonce + "'",
		"font-src 'self' data:",
		"img-src 'self' data:",
		"connect-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	var b [16]byte
	rand.Read(b[:])
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	body, err := render(h.endpoint, nonce)
	if err != nil {
		// Cannot happen after Handler's own render succeeded; say so plainly if it does.
		http.Error(w, "500 couldn't render GraphiQL's page", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", pageCSP(nonce))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func render(endpoint, nonce string) ([]byte, error) {
	var buf bytes.Buffer
	if err := page.Execute(&buf, pageData{Endpoint: endpoint, Nonce: nonce}); err != nil {
		return nil, fmt.Errorf("graphiql: couldn't render the page: %w", err)
	}
	return buf.Bytes(), nil
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// (listed with a q above 0).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			name, value, ok := strings.Cut(strings.TrimSpace(params), "=")
			if !ok || strings.TrimSpace(name) != "q" {
				return true
			}
			q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return err == nil && q > 0
		}
	}
	return false
}

func serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Content-Security-Policy", assetCSP)
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.URL.Query().Get("v") == a.hash {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	body, etag := a.body, `"`+a.hash+`"`
	if gz := a.gzipped(); gz != nil {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body, etag = gz, `"`+a.hash+`-gzip"`
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("ETag", etag)
	// No modification time (embedded files have none): the ETag does it.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
}
