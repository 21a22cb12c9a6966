package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops"
)

// devOrigin is the log origin `crossledger dev` uses.
const devOrigin = "dev.crossledger.local/log"

func runDev(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "dev", "dev [--data DIR] [--broker ADDR] [--http ADDR]\n\n"+
		"Runs a local ledger in one process: the embedded Kafka-protocol broker (data under DIR/broker)\n"+
		"and the transparency log (DIR/log, key DIR/log.key, made on first run) served over HTTP\n"+
		"with the C2SP tlog-tiles paths. A second run resumes the same ledger.")
	data := f.String("data", "data", "data directory")
	brokerAddr := f.String("broker", "127.0.0.1:9092", "broker listen address")
	httpAddr := f.String("http", "127.0.0.1:8080", "HTTP listen address for the log's tile API")
	if err := parse(f, args, 0); err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		return fmt.Errorf("couldn't create data dir: %w", err)
	}

	bcfg := ops.DefaultBrokerConfig()
	bcfg.Listen = *brokerAddr
	bcfg.DataDir = filepath.Join(*data, "broker")
	broker, err := ops.StartBroker(bcfg, env.logger)
	if err != nil {
		return err
	}
	defer broker.Close()

	skey, err := devLogKey(filepath.Join(*data, "log.key"))
	if err != nil {
		return err
	}
	lg, err := merkle.Open(ctx, filepath.Join(*data, "log"), merkle.Options{SignerKey: skey})
	if err != nil {
		return err
	}
	defer lg.Close()

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("couldn't listen for HTTP: %w", err)
	}
	srv := &http.Server{Handler: lg.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()

	fmt.Fprintf(env.stdout, `crossledger dev is running (Ctrl-C stops it):
  broker     %s  (Kafka protocol; data %s)
  log        %s  (%d entries; origin %s)
  tile API   http://%s/checkpoint  /tile/...  /proof/inclusion?index=&size=  /proof/consistency?from=&to=
not yet wired into dev: ingest, projection, gateway and the demo simulator
(tracked in the ingest and gateway issues); the log stays as it is until then.
`, broker.Addr(), bcfg.DataDir, filepath.Join(*data, "log"), lg.Size(), lg.Origin(), ln.Addr())
	<-ctx.Done()
	fmt.Fprintln(env.stdout, "stopping")
	return nil
}

// devLogKey reads the dev log key, making it on first run.
func devLogKey(name string) (string, error) {
	skey, err := readKeyFile(name)
	if err == nil {
		return skey, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	skey, _, err = merkle.GenerateKey(devOrigin)
	if err != nil {
		return "", err
	}
	if err := writeNew(name, []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	return skey, nil
}
