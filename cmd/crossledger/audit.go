package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/ops/audit"
	"github.com/crossledger/crossledger/schema"
)

const auditSynopsis = `audit --url URL --log-key VKEY|FILE --genesis FILE|demo --schemas DIR|demo --state DIR [--policy FILE] [--follow [--interval D]] [--json]

Checks the whole ledger from its public HTTP API (C2SP tlog-tiles), with
public keys only — no private key, no log directory:

  - the checkpoint's log signature, and with --policy its witness
    cosignatures and quorum (a C2SP tlog-policy file);
  - that it extends the last checkpoint this state directory verified (a
    consistency proof built from the served tiles): a smaller tree is a
    rollback, another root a fork — reported with both signed checkpoints;
  - every entry the state has not seen, fetched in entry bundles: canonical
    encoding, the signer's signature with its key valid at that index (keys
    from --genesis and the department.key entries), dense seqs per signer,
    record changes against the department's schemas, grants and revokes
    signed by the record type's owner, access entries signed by the gateway;
  - the tree recomputed from the entries against every served hash tile
    and the checkpoint's root.

The state (--state DIR) keeps what was verified, so the next run reads only
what is new and an interrupted run resumes. --genesis and --schemas are
required because they are what you trust: "demo" names the built-in demo
files that 'crossledger dev' uses (their keys come from public seeds: never
for a real ledger). The log key is a verifier key "<origin>+<hash>+<key>",
@FILE or FILE holding one (as 'crossledger keygen log' writes ORIGIN.pub).

Progress goes to stderr (a bar on a terminal, lines otherwise); the report
to stdout (--json: one JSON object; with --follow one per round). With
--follow the audit polls every --interval and prints each problem as it is
found; it stops at a rollback or fork (exit 1) or on interrupt.

Exit status: 0 clean, 1 a problem found (each printed with its index and
reason), 2 could not check (network, bad flags, bad key or state).`

// errCouldNotCheck makes run exit 2 (as for a usage error) once the reason
// has been printed: the audit could not check, which is not a finding.
type errCouldNotCheck struct{ err error }

func (e errCouldNotCheck) Error() string        { return e.err.Error() }
func (e errCouldNotCheck) Is(target error) bool { return target == errUsage }

func runAudit(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "audit", auditSynopsis)
	url := f.String("url", "", "the log's tlog-tiles base URL (serving /checkpoint)")
	logKey := f.String("log-key", "", "log verifier key, @FILE or FILE")
	genesis := f.String("genesis", "", `genesis file with the governance and department keys, or "demo"`)
	schemas := f.String("schemas", "", `directory of department schema files, or "demo"`)
	policyFile := f.String("policy", "", "witness policy (C2SP tlog-policy) the checkpoint's cosignatures must meet")
	state := f.String("state", "", "state directory (created if missing)")
	gateway := f.String("gateway", "gateway", "the signer of access entries")
	follow := f.Bool("follow", false, "keep polling and report problems as they appear")
	interval := f.Duration("interval", 10*time.Second, "with --follow: time between polls")
	asJSON := f.Bool("json", false, "print the report as JSON")
	workers := f.Int("workers", 0, "goroutines verifying signatures (0: one per core)")
	timeout := f.Duration("timeout", 30*time.Second, "timeout of each HTTP request")
	if err := parse(f, args, 0); err != nil {
		return err
	}
	switch {
	case *url == "" || *logKey == "" || *genesis == "" || *schemas == "" || *state == "":
		return usageErrorf(f, "need --url, --log-key, --genesis, --schemas and --state")
	case *interval <= 0 || *timeout <= 0 || *workers < 0:
		return usageErrorf(f, "need --interval and --timeout > 0 and --workers ≥ 0")
	}
	cfg, err := auditConfig(*url, *logKey, *genesis, *schemas, *policyFile)
	if err != nil {
		return couldNotCheck(env, err)
	}
	cfg.StateDir, cfg.Gateway, cfg.Workers = *state, *gateway, *workers
	cfg.Client = &http.Client{Timeout: *timeout}
	if !*follow {
		bar := audit.NewProgress(env.stderr)
		cfg.Progress = bar.Update
		rep, err := audit.Run(ctx, cfg)
		bar.Finish()
		if err != nil {
			return couldNotCheck(env, err)
		}
		if err := rep.Write(env.stdout, *asJSON); err != nil {
			return err
		}
		return auditOutcome(rep)
	}
	return followAudit(ctx, env, cfg, *interval, *asJSON)
}

func couldNotCheck(env *cliEnv, err error) error {
	fmt.Fprintf(env.stderr, "crossledger audit: couldn't check: %v\n", err)
	return errCouldNotCheck{err}
}

// auditOutcome is the error (exit 1) for a report with problems.
func auditOutcome(rep *audit.Report) error {
	if rep.OK() {
		return nil
	}
	if rep.Evidence != nil {
		return fmt.Errorf("%s: the log is not append-only", strings.ToUpper(rep.Evidence.Kind))
	}
	return fmt.Errorf("%d %s found", rep.ProblemCount, plural(int(rep.ProblemCount), "problem", "problems"))
}

// followAudit runs the audit every interval until ctx is done or a
// rollback or fork shows.
func followAudit(ctx context.Context, env *cliEnv, cfg audit.Config, interval time.Duration, asJSON bool) error {
	var seen uint64
	if !asJSON {
		cfg.OnProblem = func(p audit.Problem) { fmt.Fprintf(env.stdout, "PROBLEM %s\n", p) }
	}
	for {
		bar := audit.NewProgress(env.stderr)
		cfg.Progress = bar.Update
		rep, err := audit.Run(ctx, cfg)
		bar.Finish()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			fmt.Fprintf(env.stderr, "crossledger audit: couldn't check (trying again in %s): %v\n", interval, err)
		case asJSON:
			if err := rep.Write(env.stdout, true); err != nil {
				return err
			}
		default:
			if rep.Served != nil {
				fmt.Fprintf(env.stdout, "%s checkpoint %d: checked entries [%d, %d), %d %s in all\n",
					time.Now().UTC().Format(time.RFC3339), rep.Served.Size, rep.From, rep.To, rep.ProblemCount, plural(int(rep.ProblemCount), "problem", "problems"))
			}
			if rep.Evidence != nil {
				rep.Evidence.Write(env.stdout)
			}
		}
		if err == nil && rep != nil {
			seen = max(seen, rep.ProblemCount)
			if rep.Evidence != nil {
				return auditOutcome(rep)
			}
		}
		select {
		case <-ctx.Done():
			if seen > 0 {
				return fmt.Errorf("%d %s found", seen, plural(int(seen), "problem", "problems"))
			}
			return nil
		case <-time.After(interval):
		}
	}
}

// auditConfig reads the keys, genesis, schemas and policy.
func auditConfig(url, logKey, genesis, schemas, policyFile string) (audit.Config, error) {
	var cfg audit.Config
	v, err := auditLogKey(logKey)
	if err != nil {
		return cfg, err
	}
	g, err := loadGenesis(genesis)
	if err != nil {
		return cfg, err
	}
	if _, err := auditSchemas(schemas)(); err != nil {
		return cfg, err
	}
	cfg = audit.Config{URL: url, LogKey: v, Genesis: g, Schemas: auditSchemas(schemas)}
	if policyFile != "" {
		b, err := readBounded(policyFile, witness.MaxPolicySize)
		if err != nil {
			return cfg, err
		}
		if cfg.Policy, err = witness.ParsePolicy(b); err != nil {
			return cfg, fmt.Errorf("%s: %w", policyFile, err)
		}
	}
	return cfg, nil
}

// auditLogKey is [logVerifier] for a required key that may also be a
// plain file name.
func auditLogKey(spec string) (note.Verifier, error) {
	if !strings.HasPrefix(spec, "@") && strings.Count(spec, "+") < 2 {
		if _, err := os.Stat(spec); err == nil {
			spec = "@" + spec
		}
	}
	return logVerifier(spec, "")
}

func loadGenesis(name string) (*schema.Genesis, error) {
	if name == "demo" {
		return schema.DemoGenesis()
	}
	return schema.LoadGenesisFile(name)
}

// auditSchemas returns a loader of fresh catalogs (the audit adds the
// versions that schema entries log to its own).
func auditSchemas(dir string) func() (*schema.Catalog, error) {
	if dir == "demo" {
		return schema.DemoCatalog
	}
	return func() (*schema.Catalog, error) { return schema.LoadDir(dir) }
}

func readBounded(name string, limit int) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, int64(limit)+1))
	if err == nil && len(b) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, err
}
