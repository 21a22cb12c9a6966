package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/internal/dev"
)

const tokenSynopsis = `token --department DEPT --user USER --role ROLE[,ROLE] [--citizen-id ID] [--ttl 8h] [--data DIR] [--issuer NAME]

Issues a gateway bearer token (an EdDSA JWT) from the local dev issuer that
'crossledger dev' trusts, and prints only the token, so that

  TOKEN=$(crossledger token --department public-security --user zhang.wei --role analyst)
  curl -H "Authorization: Bearer $TOKEN" …

works. The issuer's key is DIR/gateway/dev-issuer.pem, made on first use.
Roles: analyst, auditor, citizen; a citizen token needs --citizen-id and no
other role. For development only.`

// rolesFlag collects --role, repeated or comma-separated.
type rolesFlag []auth.Role

func (r *rolesFlag) String() string {
	s := make([]string, len(*r))
	for i, x := range *r {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

func (r *rolesFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*r = append(*r, auth.Role(s))
		}
	}
	return nil
}

func runToken(_ context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "token", tokenSynopsis)
	data := f.String("data", "data", "data directory holding gateway/dev-issuer.pem")
	issuer := f.String("issuer", dev.IssuerName, "issuer name (iss) of the token")
	var id auth.Identity
	var roles rolesFlag
	f.StringVar(&id.Department, "department", "", "department the caller acts for (required)")
	f.StringVar(&id.User, "user", "", "user name, the token's sub (required)")
	f.Var(&roles, "role", "role: analyst, auditor or citizen (repeatable, or a comma list; required)")
	f.StringVar(&id.CitizenID, "citizen-id", "", "resident identity number (required with --role citizen)")
	ttl := f.Duration("ttl", 8*time.Hour, fmt.Sprintf("token lifetime (at most %v)", auth.MaxDevTTL))
	publicKey := f.Bool("public-key", false, "print the dev issuer's public key (PEM, for a gateway's issuers[].keys) instead of a token")
	if err := parse(f, args, 0); err != nil {
		return err
	}
	if *publicKey {
		d, err := auth.LoadOrCreateDevIssuer(dev.IssuerKey(*data), *issuer)
		if err != nil {
			return err
		}
		fmt.Fprint(env.stdout, d.Config().Keys[0])
		return nil
	}
	id.Roles = roles
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(f.Output(), "crossledger token: "+format+"\n\n", a...)
		f.Usage()
		return errUsage
	}
	switch {
	case id.Department == "":
		return usageErr("--department is required")
	case id.User == "":
		return usageErr("--user is required")
	case len(id.Roles) == 0:
		return usageErr("--role is required (analyst, auditor or citizen)")
	case *ttl <= 0 || *ttl > auth.MaxDevTTL:
		return usageErr("--ttl %v is outside (0, %v]", *ttl, auth.MaxDevTTL)
	case *issuer == "":
		return usageErr("--issuer must not be empty")
	}
	if err := id.Validate(); err != nil {
		// Name the flag, not the claim.
		msg := strings.NewReplacer("claim citizen_id", "--citizen-id", "claim roles", "--role",
			"claim department", "--department", "claim sub (the user)", "--user", "claim sub", "--user").Replace(err.Error())
		return usageErr("%s", msg)
	}
	d, err := auth.LoadOrCreateDevIssuer(dev.IssuerKey(*data), *issuer)
	if err != nil {
		return err
	}
	tok, err := d.Issue(id, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, tok)
	return nil
}
