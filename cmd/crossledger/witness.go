package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/ops/config"
)

const witnessSynopsis = `witness [--config FILE] [--check]

Runs a C2SP tlog-witness (v1.0.0) for the logs named in the witness section
of the YAML config: it cosigns (C2SP tlog-cosignature v1, Ed25519) each
checkpoint a log submits once the consistency proof from the last one it
cosigned verifies, and refuses anything else — 403 bad signature, 404
unknown log, 409 (with its size) a stale old size, 422 a proof that does not
verify or a fork. Its state (the latest cosigned checkpoint per log) is
written durably before it answers, so a restart never cosigns a fork.
$CROSSLEDGER_WITNESS_KEY (the key itself) wins over witness.key_file; make
a key with crossledger keygen witness --name NAME.

On witness.listen it serves:
  POST /add-checkpoint                 the witness protocol
  GET  /<sha256(origin) hex>/checkpoint  the latest cosigned checkpoint of a log
On metrics.listen: /metrics (crossledger_witness_*), /healthz, /readyz.
SIGTERM or Ctrl-C stops it.`

func runWitness(ctx context.Context, env *cliEnv, args []string) error {
	cfg, err := configCommand(env, "witness", witnessSynopsis, args, (*config.Config).ValidateWitness)
	if cfg == nil || err != nil {
		return err
	}
	skey, err := cfg.WitnessKey()
	if err != nil {
		return err
	}
	signer, err := witness.NewSigner(skey)
	if err != nil {
		return fmt.Errorf("couldn't use the witness key: %w", err)
	}
	reg := node.NewRegistry()
	w, err := witness.NewServer(signer, cfg.WitnessLogs(), cfg.Witness.StateDir, reg, env.logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Witness.Listen)
	if err != nil {
		return fmt.Errorf("couldn't listen on witness.listen: %w", err)
	}
	mln, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("couldn't listen on metrics.listen: %w", err)
	}
	ops := http.NewServeMux()
	ops.Handle("GET /metrics", node.MetricsHandler(reg))
	for _, p := range []string{"GET /healthz", "GET /readyz"} {
		ops.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	}
	servers := []*http.Server{
		{Handler: w, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second},
		{Handler: ops, ReadHeaderTimeout: 5 * time.Second},
	}
	served := make(chan error, 2)
	go func() { served <- servers[0].Serve(ln) }()
	go func() { served <- servers[1].Serve(mln) }()
	fmt.Fprintf(env.stdout, "crossledger witness %s on http://%s (metrics on http://%s)\nverifier key: %s\n",
		signer.Name(), ln.Addr(), mln.Addr(), signer.VerifierKey())
	for _, l := range cfg.Witness.Logs {
		env.logger.Info("witnessing", "origin", l.Origin, "cosigned_size", w.Size(l.Origin))
	}
	var failed error
	select {
	case <-ctx.Done():
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			failed = err
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	env.logger.Info("stopped")
	return failed
}
