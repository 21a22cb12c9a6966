package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Browser returns the path of ops/browser/graphiql.mjs, the Playwright
// script of the browser tests, once node, its node_modules and Debian's
// Chromium are all there; otherwise it skips t, or fails it when services
// are required (`make test` installs them).
func Browser(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: couldn't locate ops/browser")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "browser")
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "ops/browser/node_modules (run npm ci there)")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing = append(missing, "/usr/bin/chromium (apt-get install chromium)")
	}
	if len(missing) > 0 {
		if Required() {
			t.Fatalf("the browser test needs %s (%s=1): run the tests with `make test`", strings.Join(missing, ", "), EnvRequire)
		}
		t.Skipf("no browser: missing %s; `make test` installs them", strings.Join(missing, ", "))
	}
	return filepath.Join(dir, "graphiql.mjs")
}
