package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/internal/dev"
)

func TestTokenCommand(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCLI(t, "token", "--data", data, "--department", "public-security",
		"--user", "zhang.wei", "--role", "analyst,auditor", "--ttl", "2h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	tok := strings.TrimSuffix(out, "\n")
	if strings.Count(out, "\n") != 1 || strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \t") {
		t.Fatalf("stdout %q is not just a token", out)
	}
	fi, err := os.Stat(dev.IssuerKey(data))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	d, err := auth.LoadOrCreateDevIssuer(dev.IssuerKey(data), dev.IssuerName)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(context.Background(), []auth.IssuerConfig{d.Config()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	id, err := a.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.Issuer != "crossledger-dev" || id.User != "zhang.wei" || id.Department != "public-security" ||
		!id.Has(auth.RoleAnalyst) || !id.Has(auth.RoleAuditor) || len(id.Roles) != 2 {
		t.Errorf("identity = %+v", id)
	}
	if d := time.Until(id.Expires); d < 119*time.Minute || d > 2*time.Hour {
		t.Errorf("expires in %v, want 2h", d)
	}

	// The key is reused, and a repeated --role works as well as a list.
	code, out, errOut = runCLI(t, "token", "--data", data, "--department", "civil-affairs",
		"--user", "c1", "--role", "citizen", "--citizen-id", "11010519491231002x")
	if code != 0 {
		t.Fatalf("citizen: exit %d: %s", code, errOut)
	}
	id, err = a.Verify(context.Background(), strings.TrimSpace(out))
	if err != nil || id.CitizenID != "11010519491231002X" || !id.Has(auth.RoleCitizen) {
		t.Fatalf("citizen token: %+v, %v", id, err)
	}
	code, out, _ = runCLI(t, "token", "--data", data, "--department", "tax", "--user", "u", "--role", "analyst", "--role", "auditor")
	if id, err := a.Verify(context.Background(), strings.TrimSpace(out)); code != 0 || err != nil || len(id.Roles) != 2 {
		t.Fatalf("repeated --role: exit %d, %+v, %v", code, id, err)
	}
}

func TestTokenUsageErrors(t *testing.T) {
	data := t.TempDir()
	base := []string{"token", "--data", data}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no department", []string{"--user", "u", "--role", "analyst"}, "--department is required"},
		{"no user", []string{"--department", "tax", "--role", "analyst"}, "--user is required"},
		{"no role", []string{"--department", "tax", "--user", "u"}, "--role is required"},
		{"unknown role", []string{"--department", "tax", "--user", "u", "--role", "admin"}, `unknown role "admin"`},
		{"citizen without id", []string{"--department", "tax", "--user", "u", "--role", "citizen"}, "--citizen-id is required for role citizen"},
		{"bad citizen id", []string{"--department", "tax", "--user", "u", "--role", "citizen", "--citizen-id", "110105198001010017"}, "check character"},
		{"citizen and analyst", []string{"--department", "tax", "--user", "u", "--role", "citizen,analyst", "--citizen-id", "110105198001010016"}, "cannot be combined"},
		{"citizen id without citizen", []string{"--department", "tax", "--user", "u", "--role", "analyst", "--citizen-id", "110105198001010016"}, "only allowed with role citizen"},
		{"bad department", []string{"--department", "Tax Office", "--user", "u", "--role", "analyst"}, "not a department id"},
		{"zero ttl", []string{"--department", "tax", "--user", "u", "--role", "analyst", "--ttl", "0s"}, "--ttl"},
		{"stray argument", []string{"--department", "tax", "--user", "u", "--role", "analyst", "extra"}, "unexpected arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append(base, tt.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "Usage: crossledger token") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, errOut, tt.want)
			}
		})
	}
	if _, err := os.Stat(dev.IssuerKey(data)); err == nil {
		t.Error("a usage error created the key")
	}
	code, out, errOut := runCLI(t, "token", "--help")
	if code != 0 || out != "" || !strings.Contains(errOut, "--citizen-id") {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
