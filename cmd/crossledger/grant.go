package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/schema"
)

const grantSynopsis = `grant --owner DEPT --consumer DEPT --purpose PURPOSE --type TYPE --fields F1,F2,...
        [--expires 2027-01-01T00:00:00Z] [--condition subject] [--revoke]
        (--key FILE | --demo) [--schemas DIR]
        (--outbox PATH --brokers HOST:PORT,... [--log-key VKEY|@FILE] [--timeout 30s] | --out FILE|- --seq N)

Builds a grant (or with --revoke, a revoke) and signs it as the OWNER
department: the department that owns the record type gives the consumer
department access to those fields for that purpose. A revoke withdraws
the listed fields, or every field of the type when --fields is empty.
The record type and fields are checked against the catalog (--schemas,
default the built-in demo schemas); fields are sorted and deduplicated.

The key is --key, a department key file made by 'crossledger keygen
department', or --demo for the owner's public demo key (demo ledgers
only: anyone can sign with it).

Every department numbers what it signs with a dense seq (1, 2, 3, … with
no gaps): ingest logs a department's entries in seq order, holds one
that arrives early until the gap fills, rejects one below the next seq
it expects, and rejects a second, different envelope under a seq it has
logged (equivocation). The department's SDK outbox owns that counter. So, by default, the grant is published through the owner's
outbox (--outbox, the same SQLite file the department's adapter uses),
which assigns the seq, sends it to --brokers, and waits for ingest's
receipt, whose inclusion proof is verified with the log key (--log-key;
default derived from --data DIR/log.key) before the leaf is printed.

With --out, the signed wire message ({"envelope": …}) is written to FILE
(- for standard output) for the gateway's submitGrant mutation instead.
Nothing assigns the seq then: --seq must be exactly the department's
next seq (a higher one waits in ingest until the seqs below it are
logged), and nothing else may sign under that seq later: the
department's outbox does not know about it, and when it signs its own
message under that seq, whichever of the two arrives second is rejected
as equivocation. Use --out only for a
department that publishes nothing else at the time, or coordinate.`

// grantOptions are the grant command's flags.
type grantOptions struct {
	owner, consumer, purpose, typ, fields string
	expires, condition                    string
	revoke, demo                          bool
	keyFile, schemas                      string
	outbox, brokers, logKey, data         string
	changesTopic, receiptsTopic           string
	timeout                               time.Duration
	out                                   string
	seq                                   uint64
}

func runGrant(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "grant", grantSynopsis)
	var o grantOptions
	f.StringVar(&o.owner, "owner", "", "the owning department, which signs")
	f.StringVar(&o.consumer, "consumer", "", "the department given (or denied) access")
	f.StringVar(&o.purpose, "purpose", "", "the business purpose, e.g. real-estate-transfer")
	f.StringVar(&o.typ, "type", "", "the owner's record type")
	f.StringVar(&o.fields, "fields", "", "comma-separated field names (a revoke without fields withdraws them all)")
	f.StringVar(&o.expires, "expires", "", "RFC 3339 time the grant ends (grants only)")
	f.StringVar(&o.condition, "condition", "", `row condition: "subject" (only records about the queried citizen) or empty (all rows); grants only`)
	f.BoolVar(&o.revoke, "revoke", false, "make a revoke instead of a grant")
	f.StringVar(&o.keyFile, "key", "", "the owner's department key file (from 'crossledger keygen department')")
	f.BoolVar(&o.demo, "demo", false, "sign with the owner's public demo key (demo ledgers only)")
	f.StringVar(&o.schemas, "schemas", "", "department schemas directory (default: the built-in demo schemas)")
	f.StringVar(&o.outbox, "outbox", "", "the owner's SDK outbox (SQLite file) to publish through")
	f.StringVar(&o.brokers, "brokers", "", "comma-separated Kafka bootstrap addresses, to publish")
	f.StringVar(&o.logKey, "log-key", "", "log verifier key or @FILE, to verify the receipt (default: derived from DIR/log.key of --data)")
	f.StringVar(&o.data, "data", "data", "a 'crossledger dev' data directory, for the default --log-key")
	f.StringVar(&o.changesTopic, "changes-topic", ingest.TopicChanges, "topic to publish to")
	f.StringVar(&o.receiptsTopic, "receipts-topic", ingest.TopicReceipts, "topic to read receipts from")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the verified receipt")
	f.StringVar(&o.out, "out", "", "write the signed wire message to this file (- for standard output) instead of publishing")
	f.Uint64Var(&o.seq, "seq", 0, "with --out: the owner's next seq")
	if err := parse(f, args, 0); err != nil {
		return err
	}
	usageErr := func(format string, args ...any) error {
		fmt.Fprintf(f.Output(), "crossledger grant: "+format+"\n", args...)
		return errUsage
	}
	envl, err := o.envelope(usageErr)
	if err != nil {
		return err
	}
	cat, err := loadSchemas(o.schemas)
	if err != nil {
		return err
	}
	if err := checkGrantAgainst(cat, envl); err != nil {
		return usageErr("%v", err)
	}
	if o.demo == (o.keyFile != "") {
		return usageErr("give exactly one of --key FILE and --demo")
	}
	switch {
	case o.out != "" && (o.outbox != "" || o.brokers != ""):
		return usageErr("--out writes the message for submitGrant; it does not publish: drop --outbox and --brokers")
	case o.out != "" && o.seq == 0:
		return usageErr("--out needs --seq N, the owner's next seq (see --help for why)")
	case o.out == "" && o.seq != 0:
		return usageErr("--seq is only for --out: when publishing, the outbox assigns the seq")
	case o.out == "" && (o.outbox == "" || o.brokers == ""):
		return usageErr("to publish, give --outbox and --brokers (or --out FILE --seq N to write the message)")
	case o.out == "" && o.timeout <= 0:
		return usageErr("--timeout must be positive")
	}
	priv := schema.DemoKey(o.owner)
	if !o.demo {
		if priv, err = readDepartmentKey(o.keyFile); err != nil {
			return err
		}
	}
	if o.out != "" {
		return writeGrant(env, o, envl, priv)
	}
	v, err := logVerifier(o.logKey, o.data)
	if err != nil {
		if errors.Is(err, errUsage) {
			return usageErr("%v", err)
		}
		return err
	}
	secret := schema.DemoSecret(o.owner)
	if !o.demo {
		// Grants name no records, so the record secret is never used;
		// the SDK requires one all the same.
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	c, err := adapters.Open(ctx, adapters.Config{
		Department: o.owner, Key: priv, RecordSecret: secret, Catalog: cat, LogVerifier: v,
		Brokers: splitCommas(o.brokers), ChangesTopic: o.changesTopic, ReceiptsTopic: o.receiptsTopic,
		OutboxPath: o.outbox, Logger: env.logger,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	return publishGrant(ctx, env, c, envl, o.outbox, o.timeout)
}

// envelope builds the unsigned grant or revoke from the flags.
func (o *grantOptions) envelope(usageErr func(string, ...any) error) (*schema.Envelope, error) {
	for _, req := range []struct{ name, v string }{{"owner", o.owner}, {"consumer", o.consumer}, {"purpose", o.purpose}, {"type", o.typ}} {
		if req.v == "" {
			return nil, usageErr("--%s is required", req.name)
		}
	}
	if o.owner == o.consumer {
		return nil, usageErr("--owner and --consumer are both %s: a department sees its own records without a grant", o.owner)
	}
	fields := splitCommas(o.fields)
	slices.Sort(fields)
	fields = slices.Compact(fields)
	env := &schema.Envelope{V: 1, Department: o.owner}
	if o.revoke {
		if o.expires != "" || o.condition != "" {
			return nil, usageErr("--expires and --condition are for grants; a revoke has neither")
		}
		env.Kind = schema.KindRevoke
		env.Revoke = &schema.Revoke{Consumer: o.consumer, Purpose: o.purpose, Type: o.typ, Fields: fields}
		return env, nil
	}
	if len(fields) == 0 {
		return nil, usageErr("--fields is required for a grant")
	}
	g := &schema.Grant{Consumer: o.consumer, Purpose: o.purpose, Type: o.typ, Fields: fields, Condition: o.condition}
	if o.expires != "" {
		t, err := time.Parse(time.RFC3339, o.expires)
		if err != nil {
			return nil, usageErr("--expires %q is not an RFC 3339 time such as 2027-01-01T00:00:00Z", o.expires)
		}
		if !t.After(time.Now()) {
			return nil, usageErr("--expires %s has already passed", o.expires)
		}
		g.Expires = t.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	env.Kind, env.Grant = schema.KindGrant, g
	return env, nil
}

// checkGrantAgainst checks env's record type and fields against the
// catalog, and its structure (ids, purpose, condition) as ingest will.
func checkGrantAgainst(cat *schema.Catalog, env *schema.Envelope) error {
	typ, fields := "", []string(nil)
	if env.Grant != nil {
		typ, fields = env.Grant.Type, env.Grant.Fields
	} else {
		typ, fields = env.Revoke.Type, env.Revoke.Fields
	}
	d, ok := cat.Department(env.Department)
	if !ok {
		return fmt.Errorf("department %s is not in the catalog (departments: %s)", env.Department, strings.Join(cat.Departments(), ", "))
	}
	rt, err := cat.RecordType(env.Department, typ, 0)
	if err != nil {
		var names []string
		for _, t := range d.Types {
			names = append(names, t.Name)
		}
		return fmt.Errorf("%s has no record type %q (its types: %s)", env.Department, typ, strings.Join(names, ", "))
	}
	for _, name := range fields {
		if _, ok := rt.Field(name); !ok {
			var names []string
			for _, f := range rt.Fields {
				names = append(names, f.Name)
			}
			return fmt.Errorf("record type %s of %s has no field %q (its fields: %s)", typ, env.Department, name, strings.Join(names, ", "))
		}
	}
	// Structure, with placeholders for what signing sets.
	probe := *env
	probe.Seq, probe.Time, probe.KeyID = 1, "2000-01-01T00:00:00Z", "0000000000000000"
	if err := probe.Validate(); err != nil {
		return err
	}
	return nil
}

// readDepartmentKey reads a key file of 'crossledger keygen department':
// the base64url Ed25519 seed.
func readDepartmentKey(name string) (ed25519.PrivateKey, error) {
	s, err := keyfile.Read(name)
	if err != nil {
		return nil, err
	}
	seed, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("couldn't read department key %s: not a base64url Ed25519 seed (make one with 'crossledger keygen department')", name)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// writeGrant signs env with seq o.seq and writes the wire message.
func writeGrant(env *cliEnv, o grantOptions, envl *schema.Envelope, priv ed25519.PrivateKey) error {
	envl.Seq = o.seq
	envl.Time = time.Now().UTC().Format(time.RFC3339)
	if err := schema.Sign(envl, priv); err != nil {
		return err
	}
	if err := envl.Validate(); err != nil {
		return err
	}
	m, err := schema.NewMessage(envl, nil)
	if err != nil {
		return err
	}
	// The canonical bytes and nothing else, not even a final newline:
	// submitGrant, like ingest, accepts only the canonical message.
	b, err := m.Encode()
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%s seq %d: %s signed with key %s, envelope digest %s", envl.Department, envl.Seq, envl.Kind, envl.KeyID, schema.EnvelopeDigest(m.Envelope))
	if o.out == "-" {
		if _, err := env.stdout.Write(b); err != nil {
			return err
		}
		fmt.Fprintln(env.stderr, summary)
		return nil
	}
	if err := os.WriteFile(o.out, b, 0o644); err != nil {
		return fmt.Errorf("couldn't write the message: %w", err)
	}
	fmt.Fprintf(env.stdout, "%s\nwrote %s: submit it with the gateway's submitGrant mutation\n", summary, o.out)
	return nil
}

// publishGrant publishes env through the outbox and waits for its
// verified receipt.
func publishGrant(ctx context.Context, env *cliEnv, c *adapters.Client, envl *schema.Envelope, outbox string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Publish before Run: with the message in the outbox, a first Run
	// reads receipts from the start of the topic and cannot miss ours.
	seq, err := c.PublishEnvelope(ctx, envl, nil)
	if err != nil && !errors.Is(err, adapters.ErrQueued) {
		return fmt.Errorf("couldn't publish the %s: %w", envl.Kind, err)
	}
	fmt.Fprintf(env.stdout, "%s seq %d: %s signed with key %s, waiting for the receipt\n", envl.Department, seq, envl.Kind, envl.KeyID)
	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(runCtx) }()
	defer func() { stop(); <-runDone }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.Status(ctx, seq)
		if err == nil {
			switch st.State {
			case adapters.StateDone:
				fmt.Fprintf(env.stdout, "%s seq %d: logged at leaf %d (receipt proof verified)\n", envl.Department, seq, st.Leaf)
				return nil
			case adapters.StateRejected:
				return fmt.Errorf("%s seq %d was rejected (%s): %s", envl.Department, seq, st.Reason, st.Detail)
			}
		}
		select {
		case <-ctx.Done():
			return waitErr(ctx, envl, seq, outbox, timeout)
		case err := <-runDone:
			runDone <- err // for the deferred wait
			if ctx.Err() != nil {
				return waitErr(ctx, envl, seq, outbox, timeout)
			}
			return fmt.Errorf("couldn't read receipts: %w", err)
		case <-tick.C:
		}
	}
}

func waitErr(ctx context.Context, envl *schema.Envelope, seq uint64, outbox string, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no verified receipt for %s seq %d within %s: it stays pending in %s, and whatever runs that outbox next (the department's adapter, or this command again) re-sends it", envl.Department, seq, timeout, outbox)
	}
	return ctx.Err()
}

func splitCommas(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
