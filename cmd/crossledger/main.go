// Command crossledger is the one binary of crossledger: every component and
// tool is a subcommand. Run `crossledger help` for the list and
// `crossledger <command> --help` for each command's flags.
//
// Subcommands parse their flags with the standard flag package: the CLI is
// small, each command owns one FlagSet, and it keeps the dependency list short.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what every command gets injected: streams and a logger.
type cliEnv struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
}

var commands = []command{
	{"audit", "audit the whole ledger from its public HTTP API and public keys: checkpoints, consistency, every entry's signature and seq", runAudit},
	{"bench", "measure the ledger end to end in one process: bench ingest (throughput, receipt latency, vs. one core's Ed25519 verify rate)", runBench},
	{"broker", "run the embedded Kafka-protocol broker (kfake) with its data on disk", runBroker},
	{"dev", "run the whole ledger in one process on embedded defaults (broker, ingest, log, SQLite projection, demo departments) under ./data", runDev},
	{"ingest", "run ingest, the log and the projector against Kafka and a projection store, from one YAML config (--config)", runIngest},
	{"gateway", "run the GraphQL gateway against a running ledger (log over HTTP, projection store, Kafka), configured by one YAML file", runGateway},
	{"keygen", "make a log signing key (note format), a department Ed25519 key, or a witness cosigning key", runKeygen},
	{"grant", "sign a grant or revoke as the owning department; publish it through its outbox or write it for submitGrant", runGrant},
	{"schema", "check department schema files, or print the built-in demo schemas", runSchema},
	{"token", "issue a gateway bearer token (JWT) from the local dev issuer that 'crossledger dev' trusts", runToken},
	{"log", "inspect and verify a log directory (fsck, checkpoint)", runLog},
	{"reproject", "rebuild a projection store (SQLite or ClickHouse) from the log and payloads, with progress", runReproject},
	{"verify", "verify a saved gateway response offline: signatures, disclosures, inclusion proofs, checkpoints", runVerify},
	{"witness", "run a C2SP tlog-witness: cosign checkpoints of the configured logs after checking consistency", runWitness},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cliEnv{
		stdout: os.Stdout,
		stderr: os.Stderr,
		logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	os.Exit(run(ctx, env, os.Args[1:]))
}

// run dispatches args to a subcommand and returns the process exit code:
// 0 success, 1 failure, 2 usage error.
func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return run(ctx, env, []string{args[1], "--help"})
		}
		usage(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, env, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			default:
				fmt.Fprintf(env.stderr, "crossledger %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(env.stderr, "crossledger: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return 2
}

// errUsage marks a usage error already reported by the FlagSet.
var errUsage = errors.New("usage error")

func usage(w io.Writer) {
	fmt.Fprintf(w, "crossledger — a cross-department audit ledger with selective disclosure and proofs\n\nUsage:\n  crossledger <command> [flags]\n\nCommands:\n")
	cs := append([]command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'crossledger <command> --help' for a command's flags.\n")
}

// newFlags makes a FlagSet whose --help prints a synopsis and the flags.
func newFlags(env *cliEnv, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("crossledger "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: crossledger %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping flag errors onto errUsage / flag.ErrHelp and
// refusing stray positional arguments unless allowed.
func parse(fs *flag.FlagSet, args []string, maxPositional int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return errUsage
	}
	if fs.NArg() > maxPositional {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args()[maxPositional:], " "))
		fs.Usage()
		return errUsage
	}
	return nil
}

// subcommand splits "KIND [flags]" for commands with a sub-verb; a bare
// --help (or nothing) prints the usage.
func subcommand(fs *flag.FlagSet, args []string) (string, []string, error) {
	if len(args) == 0 {
		fs.Usage()
		return "", nil, errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fs.Usage()
		return "", nil, flag.ErrHelp
	}
	return args[0], args[1:], nil
}
