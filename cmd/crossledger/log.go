package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/merkle"
)

func runLog(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "log", "log (verify | checkpoint) --dir DIR --key FILE\n\n"+
		"  verify      recompute the tree from the entry bundles and compare every tile and the checkpoint (fsck)\n"+
		"  checkpoint  print the signed checkpoint\n\n"+
		"The log must not be open in another process (it takes the writer lock).")
	dir := f.String("dir", "data/log", "log directory")
	keyFile := f.String("key", "data/log.key", "log signer key file (from 'crossledger keygen log')")
	sub, err := parseSubcommand(f, args, 0)
	if err != nil {
		return err
	}
	if sub != "verify" && sub != "checkpoint" {
		return usageErrorf(f, "unknown log command %q", sub)
	}
	skey, err := keyfile.Read(*keyFile)
	if err != nil {
		return err
	}
	l, err := merkle.Open(ctx, *dir, merkle.Options{SignerKey: skey})
	if err != nil {
		if errors.Is(err, merkle.ErrLocked) {
			return fmt.Errorf("%s is in use by another process (stop it first): %w", *dir, err)
		}
		return err
	}
	defer l.Close()
	switch sub {
	case "checkpoint":
		_, err = env.stdout.Write(l.Checkpoint())
		return err
	default:
		if err := l.Verify(ctx); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s: ok, %d entries, checkpoint verifies and every tile matches\n", *dir, l.Size())
		return nil
	}
}
