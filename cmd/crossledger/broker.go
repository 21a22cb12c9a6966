package main

import (
	"context"

	"github.com/crossledger/crossledger/ops"
)

func runBroker(ctx context.Context, env *cliEnv, args []string) error {
	cfg := ops.DefaultBrokerConfig()
	fs := newFlags(env, "broker", "broker [--listen ADDR] [--data-dir DIR] [--partitions N] [--sync]")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "TCP address to listen on and advertise to clients")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for topics, segments and committed offsets (empty: memory only)")
	fs.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "default partition count of auto-created topics")
	fs.BoolVar(&cfg.SyncWrites, "sync", cfg.SyncWrites, "fsync every produced batch before acknowledging it")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	return ops.RunBroker(ctx, cfg, env.logger)
}
