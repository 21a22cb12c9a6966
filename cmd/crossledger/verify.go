package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/gateway/verify"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

// verifyStdin is what "-" reads; tests replace it.
var verifyStdin io.Reader = os.Stdin

const verifySynopsis = `verify RESPONSE.json|- [--log-key VKEY|@FILE] [--data DIR] [--keys GENESIS.yaml] [--schemas DIR|demo] [--policy FILE]

Checks a saved gateway response offline: every record's envelope is
signed by its department (key from --keys), every value shown opens the
digest the department signed, every redacted field is one it committed
to, and every record is in the log under a checkpoint signed by the log
key. Records are the objects with "envelope", "proof" and "fields" keys:
select those under their own names (and name, value, disclosure, digest
in fields); alias anything else.

The log key is --log-key, a verifier key "<origin>+<hash>+<key>" or
@FILE holding one (as 'crossledger keygen log' writes ORIGIN.pub);
without it, the one derived from the key 'crossledger dev' keeps in
DIR/log.key. With --policy (a C2SP tlog-policy file), every checkpoint
must also carry valid cosignatures meeting its quorum, and the witnesses
that vouched are printed. Exit status: 0 everything verifies, 1 something does not
(each failure is printed with its JSON path) or the input is unreadable,
2 usage error.`

func runVerify(_ context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "verify", verifySynopsis)
	logKey := f.String("log-key", "", "log verifier key, or @FILE (default: derived from DIR/log.key of --data)")
	data := f.String("data", "data", "a 'crossledger dev' data directory, for the default --log-key")
	keys := f.String("keys", "", "genesis file with the department keys (default: the built-in demo genesis)")
	schemas := f.String("schemas", "", "also check records against these department schemas (a directory, or demo for the built-in ones)")
	policyFile := f.String("policy", "", "C2SP tlog-policy file: require its witnesses' quorum on every checkpoint")
	pos, err := parseInterspersed(f, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprintln(f.Output(), "need exactly one response file (or - for standard input)")
		f.Usage()
		return errUsage
	}
	v, err := logVerifier(*logKey, *data)
	if err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintln(f.Output(), err)
			f.Usage()
		}
		return err
	}
	ring, err := genesisKeyRing(*keys)
	if err != nil {
		return err
	}
	var opts []verify.Option
	if *schemas != "" {
		c, err := loadSchemas(*schemas)
		if err != nil {
			return err
		}
		opts = append(opts, verify.WithCatalog(c))
	}
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err != nil {
			return fmt.Errorf("couldn't read the policy: %w", err)
		}
		p, err := witness.ParsePolicy(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *policyFile, err)
		}
		opts = append(opts, verify.WithPolicy(p))
	}
	name := pos[0]
	var in []byte
	if name == "-" {
		name = "standard input"
		in, err = io.ReadAll(verifyStdin)
	} else {
		in, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("couldn't read the response: %w", err)
	}
	rep, err := verify.Response(in, v, ring, opts...)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	rep.Write(env.stdout, name)
	if !rep.OK() {
		return fmt.Errorf("%s does not verify: %d %s", name, len(rep.Failures), plural(len(rep.Failures), "failure", "failures"))
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// parseInterspersed parses flags that may follow positional arguments
// ("verify response.json --log-key …") and returns the positionals. A
// "--" ends the flags.
func parseInterspersed(f *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, flag.ErrHelp
			}
			return nil, errUsage
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// logVerifier reads a log verifier key: spec is a verifier key, or
// @FILE holding one (a signer key is accepted too, and its verifier
// derived); empty spec means the signer key 'crossledger dev' keeps in
// dataDir/log.key. A spec that is not a key is a usage error.
func logVerifier(spec, dataDir string) (note.Verifier, error) {
	var key string
	switch {
	case spec == "":
		name := filepath.Join(dataDir, "log.key")
		skey, err := keyfile.Read(name)
		if err != nil {
			return nil, fmt.Errorf("no --log-key given and %w (pass --log-key, or --data with a 'crossledger dev' directory)", err)
		}
		vkey, err := merkle.VerifierKey(skey)
		if err != nil {
			return nil, fmt.Errorf("couldn't derive the log verifier key from %s: %w", name, err)
		}
		key = vkey
	case strings.HasPrefix(spec, "@"):
		k, err := keyfile.Read(spec[1:])
		if err != nil {
			return nil, err
		}
		key = k
	default:
		key = spec
	}
	if strings.HasPrefix(key, "PRIVATE+KEY+") {
		vkey, err := merkle.VerifierKey(key)
		if err != nil {
			return nil, fmt.Errorf("couldn't derive the log verifier key: %w", err)
		}
		key = vkey
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		if spec != "" && !strings.HasPrefix(spec, "@") {
			return nil, fmt.Errorf("--log-key is not a verifier key <origin>+<hash>+<key> (%v): %w", err, errUsage)
		}
		return nil, fmt.Errorf("couldn't parse the log verifier key: %w", err)
	}
	return v, nil
}

// genesisKeyRing loads the department keys from a genesis file, or the demo
// genesis when name is empty.
func genesisKeyRing(name string) (*schema.KeyRing, error) {
	var (
		g   *schema.Genesis
		err error
	)
	if name == "" {
		g, err = schema.DemoGenesis()
	} else {
		g, err = schema.LoadGenesisFile(name)
	}
	if err != nil {
		return nil, err
	}
	return schema.NewKeyRing(g)
}

// loadSchemas loads department schemas from a directory, or the built-in
// demo schemas for "demo" (or "").
func loadSchemas(dir string) (*schema.Catalog, error) {
	if dir == "" || dir == "demo" {
		return schema.DemoCatalog()
	}
	return schema.LoadDir(dir)
}
