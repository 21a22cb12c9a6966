package dev

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle/witness"
)

// DevWitnesses are the departments whose witnesses `crossledger dev` runs
// in-process, and DevQuorum how many of them must cosign a checkpoint.
var DevWitnesses = []string{"civil-affairs", "tax", "electricity"}

const DevQuorum = 2

// Witnesses are local department witnesses (C2SP tlog-witness servers),
// each on its own 127.0.0.1 port, with keys and state under one directory:
// DIR/<dept>.key, DIR/<dept>/ (state), and DIR/policy (the C2SP
// tlog-policy naming them, for verify and audit --policy).
type Witnesses struct {
	Policy     *witness.Policy
	PolicyFile string
	URLs       map[string]string // dept → submission prefix
	servers    []*http.Server
	done       chan error
}

// StartWitnesses starts one witness per department of depts for the log
// (origin, log vkey), k of them forming the quorum. Keys are made on
// first use and kept; a witness's state survives restarts, so a dev
// ledger's witnesses keep refusing forks across runs.
func StartWitnesses(dir string, depts []string, k int, origin, logVKey string, logger *slog.Logger) (_ *Witnesses, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create %s: %w", dir, err)
	}
	w := &Witnesses{URLs: map[string]string{}, done: make(chan error, len(depts))}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	var policy strings.Builder
	fmt.Fprintf(&policy, "# The dev ledger's department witnesses: %d of %d must cosign a checkpoint.\nlog %s\n", k, len(depts), logVKey)
	for _, d := range depts {
		s, err := witnessSigner(filepath.Join(dir, d+".key"), d+".dev.crossledger.local/witness")
		if err != nil {
			return nil, err
		}
		srv, err := witness.NewServer(s, []witness.LogConfig{{Origin: origin, VKeys: []string{logVKey}}}, filepath.Join(dir, d), nil, logger.With("witness", d))
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("couldn't listen for the %s witness: %w", d, err)
		}
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
		w.servers = append(w.servers, hs)
		go func() { w.done <- hs.Serve(ln) }()
		w.URLs[d] = "http://" + ln.Addr().String()
		fmt.Fprintf(&policy, "witness %s %s %s\n", d, s.VerifierKey(), w.URLs[d])
	}
	fmt.Fprintf(&policy, "group departments %d %s\nquorum departments\n", k, strings.Join(depts, " "))
	if w.Policy, err = witness.ParsePolicy([]byte(policy.String())); err != nil {
		return nil, err
	}
	w.PolicyFile = filepath.Join(dir, "policy")
	if err := os.WriteFile(w.PolicyFile, []byte(policy.String()), 0o644); err != nil {
		return nil, fmt.Errorf("couldn't write %s: %w", w.PolicyFile, err)
	}
	return w, nil
}

// witnessSigner reads a witness key file, making it on first use.
func witnessSigner(name, keyName string) (*witness.Signer, error) {
	skey, err := keyfile.Read(name)
	if errors.Is(err, fs.ErrNotExist) {
		if skey, _, err = witness.GenerateKey(keyName); err != nil {
			return nil, err
		}
		if err = keyfile.WriteNew(name, []byte(skey+"\n"), 0o600); errors.Is(err, fs.ErrExist) {
			skey, err = keyfile.Read(name)
		}
	}
	if err != nil {
		return nil, err
	}
	s, err := witness.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("witness key %s: %w (delete it and its state directory to make a new witness)", name, err)
	}
	return s, nil
}

// Close stops the witnesses.
func (w *Witnesses) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range w.servers {
		s.Shutdown(ctx)
	}
	w.servers = nil
	return nil
}
