package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/clickhouse"
	"github.com/crossledger/crossledger/store/sqlite"
)

func runReproject(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "reproject", "reproject [--data DIR] (--sqlite FILE | --clickhouse HOST:PORT [--database NAME]) [--schemas DIR]\n\n"+
		"Rebuilds a projection store from the log and the private payloads (never from Kafka), with a\n"+
		"progress bar. The target must be empty: a new SQLite file, or a ClickHouse database name not in use.\n"+
		"The log must not be open elsewhere (stop dev/ingest first): reproject takes the writer lock.")
	data := f.String("data", "data", "ledger data directory (log/, log.key, payloads/, ledger.secret)")
	sqlitePath := f.String("sqlite", "", "write a new SQLite projection to FILE")
	chAddr := f.String("clickhouse", "", "write to the ClickHouse server at HOST:PORT (native protocol)")
	chDB := f.String("database", "crossledger", "ClickHouse ledger database (departments get <database>_<id>)")
	schemas := f.String("schemas", "", "directory of department schema files (default: the built-in demo schemas)")
	batch := f.Int("batch", 2000, "entries per store write")
	if err := parse(f, args, 0); err != nil {
		return err
	}
	if (*sqlitePath == "") == (*chAddr == "") {
		return usageErrorf(f, "give exactly one of --sqlite and --clickhouse")
	}

	catalog, err := loadCatalog(*schemas)
	if err != nil {
		return err
	}
	skey, err := keyfile.Read(filepath.Join(*data, "log.key"))
	if err != nil {
		return err
	}
	secret, err := keyfile.ReadSecret(filepath.Join(*data, "ledger.secret"))
	if err != nil {
		return err
	}
	var sc node.StoreConfig
	if *sqlitePath != "" {
		if _, err := os.Stat(*sqlitePath); err == nil {
			return fmt.Errorf("%s exists: reproject writes a new store (remove it or pick another name)", *sqlitePath)
		}
		sc.SQLite = &sqlite.Config{Path: *sqlitePath}
	} else {
		sc.ClickHouse = &clickhouse.Config{Server: clickhouse.Server{Addr: []string{*chAddr}}, Database: *chDB}
	}
	nd, err := node.Open(ctx, node.Config{
		LogDir: filepath.Join(*data, "log"), LogKey: skey, NoIngest: true,
		Ingest: ingest.Config{PayloadDir: filepath.Join(*data, "payloads")}, Catalog: catalog, LedgerSecret: secret,
		OpenStore:       func(ctx context.Context) (store.Store, error) { return openEmptyStore(ctx, sc) },
		ProjectionBatch: *batch, Logger: env.logger,
	})
	if err != nil {
		if errors.Is(err, merkle.ErrLocked) {
			return fmt.Errorf("the log is in use (stop crossledger dev/ingest first): %w", err)
		}
		return err
	}
	defer nd.Close()
	lg, proj := nd.Log, nd.Projector
	total := lg.Size()
	bar := newProgress(env.stderr, total)
	done := uint64(0)
	for done < total {
		n, err := proj.Step(ctx)
		if err != nil {
			bar.finish()
			return fmt.Errorf("couldn't project after %d of %d entries: %w", done, total, err)
		}
		if n == 0 {
			break
		}
		done += uint64(n)
		bar.update(done)
	}
	bar.finish()
	if done != total {
		return fmt.Errorf("projected %d of %d entries", done, total)
	}
	fmt.Fprintf(env.stdout, "reprojected %d entries in %s\n", total, bar.elapsed().Round(time.Millisecond))
	return nil
}

// openEmptyStore opens the store sc names, which must hold no projection.
func openEmptyStore(ctx context.Context, sc node.StoreConfig) (store.Store, error) {
	st, err := node.OpenStore(ctx, sc)
	if err != nil {
		return nil, err
	}
	wm, err := st.Watermark(ctx)
	if err == nil && wm.Size != 0 {
		err = fmt.Errorf("the target store already holds %d projected entries: reproject needs an empty one", wm.Size)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// loadCatalog loads department schemas from dir, or the demo set.
func loadCatalog(dir string) (*schema.Catalog, error) {
	if dir == "" {
		return schema.DemoCatalog()
	}
	return schema.LoadDir(dir)
}

// progress draws a one-line progress bar; on a non-terminal it prints a
// line every 10 %.
type progress struct {
	w        io.Writer
	total    uint64
	start    time.Time
	last     time.Time
	lastTick int
	tty      bool
}

func newProgress(w io.Writer, total uint64) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, total: total, start: time.Now(), tty: tty, lastTick: -1}
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

func (p *progress) update(done uint64) {
	pct := 100
	if p.total > 0 {
		pct = int(done * 100 / p.total)
	}
	rate := float64(done) / max(p.elapsed().Seconds(), 1e-9)
	if p.tty {
		if time.Since(p.last) < 100*time.Millisecond && done != p.total {
			return
		}
		p.last = time.Now()
		const width = 30
		fill := pct * width / 100
		fmt.Fprintf(p.w, "\r[%s%s] %3d%% %d/%d entries, %.0f/s ", strings.Repeat("#", fill), strings.Repeat("-", width-fill), pct, done, p.total, rate)
		return
	}
	if tick := pct / 10; tick > p.lastTick {
		p.lastTick = tick
		fmt.Fprintf(p.w, "reproject: %3d%% %d/%d entries, %.0f/s\n", pct, done, p.total, rate)
	}
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
