package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

func runKeygen(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "keygen", "keygen (log --origin ORIGIN | department --id ID | witness --name NAME) [--out DIR]\n\n"+
		"  log         a log key in signed-note format: ORIGIN.key (private, 0600) and ORIGIN.pub (verifier)\n"+
		"  department  an Ed25519 department key: ID.key (base64url seed, 0600) and its key id and public key for genesis.yaml\n"+
		"  witness     a C2SP tlog-cosignature/v1 witness key: NAME.key (private, 0600) and NAME.pub (the vkey for policies)")
	origin := fs.String("origin", "", "log origin, e.g. haidian.example/crossledger (log keys)")
	id := fs.String("id", "", "department id (department keys)")
	name := fs.String("name", "", "witness name, a schema-less URL such as tax.haidian.example/witness (witness keys)")
	out := fs.String("out", ".", "directory to write the key files to")
	kind, rest, err := subcommand(fs, args)
	if err != nil {
		return err
	}
	if err := parse(fs, rest, 0); err != nil {
		return err
	}
	switch kind {
	case "log":
		if *origin == "" {
			return usageErrorf(fs, "--origin is required for a log key")
		}
		return writeNoteKeyPair(env, filepath.Join(*out, sanitize(*origin)), *origin, "log", merkle.GenerateKey, merkle.VerifierKey)
	case "witness":
		if *name == "" {
			return usageErrorf(fs, "--name is required for a witness key")
		}
		verifier := func(skey string) (string, error) {
			s, err := witness.NewSigner(skey)
			if err != nil {
				return "", err
			}
			return s.VerifierKey(), nil
		}
		return writeNoteKeyPair(env, filepath.Join(*out, sanitize(*name)), *name, "witness", witness.GenerateKey, verifier)
	case "department":
		if *id == "" {
			return usageErrorf(fs, "--id is required for a department key")
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("couldn't generate key: %w", err)
		}
		base := filepath.Join(*out, sanitize(*id))
		seed := base64.RawURLEncoding.EncodeToString(priv.Seed())
		if err := keyfile.WriteNew(base+".key", []byte(seed+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "department key: %s.key (keep secret)\nfor genesis.yaml:\n  - id: %s\n    key_id: %s\n    public_key: %s\n",
			base, *id, schema.KeyID(pub), base64.RawURLEncoding.EncodeToString(pub))
	default:
		fmt.Fprintf(env.stderr, "unknown key kind %q: want log, department or witness\n", kind)
		fs.Usage()
		return errUsage
	}
	return nil
}

// writeNoteKeyPair writes a signed-note key pair named name: base.key
// (the signer, 0600) and base.pub (the vkey), each whole or not at all,
// never overwriting.
func writeNoteKeyPair(env *cliEnv, base, name, what string, generate func(string) (string, string, error), verifier func(string) (string, error)) error {
	if done, err := completeKeyPair(env, base, name, what, verifier); done || err != nil {
		return err
	}
	skey, vkey, err := generate(name)
	if err != nil {
		return err
	}
	if err := keyfile.WriteNew(base+".key", []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	if err := keyfile.WriteNew(base+".pub", []byte(vkey+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s signer key:   %s.key (keep secret)\n%s verifier key: %s.pub\n%s\n", what, base, what, base, vkey)
	return nil
}

// completeKeyPair finishes a keygen that was stopped between its two
// files: base.key exists, base.pub does not. It writes base.pub from the
// key and reports done. With neither file it does nothing; with both,
// writing the key again fails as it should.
func completeKeyPair(env *cliEnv, base, name, what string, verifier func(string) (string, error)) (done bool, err error) {
	raw, err := os.ReadFile(base + ".key")
	if err != nil {
		return false, nil // absent (or unreadable: writeNew will say so)
	}
	if _, err := os.Stat(base + ".pub"); !errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	vkey, err := verifier(strings.TrimSpace(string(raw)))
	if err != nil || !strings.HasPrefix(vkey, name+"+") {
		return true, fmt.Errorf("%s.key exists without %s.pub but is not a %s signer key for %q: remove it only if nothing was made with it", base, base, what, name)
	}
	if err := keyfile.WriteNew(base+".pub", []byte(vkey+"\n"), 0o644); err != nil {
		return true, err
	}
	fmt.Fprintf(env.stdout, "%s signer key:   %s.key (existed; its verifier was missing)\n%s verifier key: %s.pub\n%s\n", what, base, what, base, vkey)
	return true, nil
}

// sanitize makes a file name out of an origin or id.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
