package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/crossledger/crossledger/store"
)

// Config configures [Open].
type Config struct {
	// Server is the default server: the ledger database's, and every
	// department's not listed in Departments. Required.
	Server Server
	// Database is the ledger database; department databases default to
	// "<Database>_<department id>". Default "crossledger".
	Database string
	// Departments places departments on their own server and/or database.
	Departments map[string]Department
}

// Server is how to reach one ClickHouse server (or a group of replicas).
type Server struct {
	// Addr lists native-protocol addresses (host:port, usually port 9000).
	// Required.
	Addr     []string
	Username string // default "default"
	Password string
	// DialTimeout bounds connecting; 0 means 10s.
	DialTimeout time.Duration
	// MaxOpenConns bounds the connection pool; 0 means 16.
	MaxOpenConns int
}

// Department overrides where one department's tables live.
type Department struct {
	// Server is the department's server; zero (no Addr) means Config.Server.
	Server Server
	// Database is the department's database; "" means
	// "<Config.Database>_<department id>".
	Database string
}

// Validate checks c.
func (c Config) Validate() error {
	if len(c.Server.Addr) == 0 {
		return errors.New("clickhouse: Config.Server.Addr is empty")
	}
	if c.Database != "" && !validIdent(c.Database) {
		return fmt.Errorf("clickhouse: Config.Database %q is not a database name", c.Database)
	}
	for id, d := range c.Departments {
		if !store.ValidDepartment(id) {
			return fmt.Errorf("clickhouse: Config.Departments: %q is not a department id", id)
		}
		if d.Database != "" && !validIdent(d.Database) {
			return fmt.Errorf("clickhouse: Config.Departments[%s].Database %q is not a database name", id, d.Database)
		}
	}
	return nil
}

// validIdent accepts names we can put in backquotes without escaping.
func validIdent(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsAny(s, "`\\\x00") && strings.TrimSpace(s) == s
}

// Store is the ClickHouse projection store. See the package doc.
type Store struct {
	cfg    Config
	ledger *db

	mu    sync.Mutex
	conns map[string]driver.Conn // by serverKey
	depts map[string]*db         // departments whose tables exist

	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// db is one database on one server.
type db struct {
	conn driver.Conn
	name string // unquoted
}

// t returns the quoted name of a table in d.
func (d *db) t(table string) string { return "`" + d.name + "`." + table }

// Open connects to the ledger's server, creates the ledger database and
// applies its migrations; department databases are created when a
// department first appears in a batch.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Database == "" {
		cfg.Database = "crossledger"
	}
	s := &Store{cfg: cfg, conns: map[string]driver.Conn{}, depts: map[string]*db{}}
	conn, err := s.conn(ctx, cfg.Server)
	if err != nil {
		return nil, err
	}
	s.ledger = &db{conn: conn, name: cfg.Database}
	if err := migrate(ctx, s.ledger, ledgerMigrations); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func serverKey(sv Server) string {
	return strings.Join(sv.Addr, ",") + "|" + sv.Username
}

// conn returns the shared connection pool of a server.
func (s *Store) conn(ctx context.Context, sv Server) (driver.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := serverKey(sv)
	if c, ok := s.conns[k]; ok {
		return c, nil
	}
	c, err := dial(ctx, sv)
	if err != nil {
		return nil, err
	}
	s.conns[k] = c
	return c, nil
}

// dial opens a connection pool to a server and checks it answers.
func dial(ctx context.Context, sv Server) (driver.Conn, error) {
	opt := &ch.Options{
		Addr:         sv.Addr,
		Auth:         ch.Auth{Username: sv.Username, Password: sv.Password},
		DialTimeout:  sv.DialTimeout,
		MaxOpenConns: sv.MaxOpenConns,
		MaxIdleConns: sv.MaxOpenConns,
	}
	if opt.Auth.Username == "" {
		opt.Auth.Username = "default"
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 10 * time.Second
	}
	if opt.MaxOpenConns == 0 {
		opt.MaxOpenConns, opt.MaxIdleConns = 16, 16
	}
	c, err := ch.Open(opt)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't open %v: %w", sv.Addr, err)
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("clickhouse: couldn't reach %v: %w", sv.Addr, err)
	}
	return c, nil
}

// Close closes every connection pool.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, c := range s.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// placement returns where a department's tables live.
func (s *Store) placement(dept string) (Server, string) {
	d := s.cfg.Departments[dept]
	sv, name := d.Server, d.Database
	if len(sv.Addr) == 0 {
		sv = s.cfg.Server
	}
	if name == "" {
		name = s.cfg.Database + "_" + dept
	}
	return sv, name
}

// dept returns the database of a department. With create, it creates and
// migrates it and registers the department; without, it returns nil (and
// no error) for a department that has no tables yet.
func (s *Store) dept(ctx context.Context, dept string, create bool) (*db, error) {
	s.mu.Lock()
	d := s.depts[dept]
	s.mu.Unlock()
	if d != nil {
		return d, nil
	}
	if !create {
		var n uint64
		if err := s.ledger.conn.QueryRow(ctx, `SELECT count() FROM `+s.ledger.t("departments")+` WHERE department = ?`, dept).Scan(&n); err != nil {
			return nil, fmt.Errorf("clickhouse: couldn't look up department %s: %w", dept, err)
		}
		if n == 0 {
			return nil, nil
		}
	}
	sv, name := s.placement(dept)
	conn, err := s.conn(ctx, sv)
	if err != nil {
		return nil, err
	}
	d = &db{conn: conn, name: name}
	if err := migrate(ctx, d, deptMigrations); err != nil {
		return nil, err
	}
	if create {
		b, err := s.ledger.conn.PrepareBatch(ctx, `INSERT INTO `+s.ledger.t("departments")+` (department, database)`)
		if err != nil {
			return nil, fmt.Errorf("clickhouse: couldn't register department %s: %w", dept, err)
		}
		if err := b.Append(dept, name); err != nil {
			b.Abort()
			return nil, fmt.Errorf("clickhouse: couldn't register department %s: %w", dept, err)
		}
		if err := b.Send(); err != nil {
			return nil, fmt.Errorf("clickhouse: couldn't register department %s: %w", dept, err)
		}
	}
	s.mu.Lock()
	if prev := s.depts[dept]; prev != nil {
		d = prev
	} else {
		s.depts[dept] = d
	}
	s.mu.Unlock()
	return d, nil
}

// departments lists the registered departments.
func (s *Store) departments(ctx context.Context) ([]string, error) {
	rows, err := s.ledger.conn.Query(ctx, `SELECT DISTINCT department FROM `+s.ledger.t("departments")+` ORDER BY department`)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't list departments: %w", err)
	}
	return collect(rows, func(rows driver.Rows) (d string, err error) {
		if err := rows.Scan(&d); err != nil {
			return "", fmt.Errorf("clickhouse: couldn't list departments: %w", err)
		}
		return d, nil
	})
}

// Watermark implements [store.Store.Watermark].
func (s *Store) Watermark(ctx context.Context) (store.Watermark, error) {
	if err := s.check(); err != nil {
		return store.Watermark{}, err
	}
	wm := store.Watermark{Departments: map[string]store.DepartmentMark{}}
	if err := s.ledger.conn.QueryRow(ctx, `SELECT max(size) FROM `+s.ledger.t("progress")).Scan(&wm.Size); err != nil {
		return store.Watermark{}, fmt.Errorf("clickhouse: couldn't read watermark: %w", err)
	}
	depts, err := s.departments(ctx)
	if err != nil {
		return store.Watermark{}, err
	}
	for _, dept := range depts {
		d, err := s.dept(ctx, dept, false)
		if err != nil {
			return store.Watermark{}, err
		}
		var m store.DepartmentMark
		var n uint64
		if err := d.conn.QueryRow(ctx, `SELECT count(), max(size), max(seq) FROM `+d.t("progress")).Scan(&n, &m.Size, &m.Seq); err != nil {
			return store.Watermark{}, fmt.Errorf("clickhouse: couldn't read watermark of %s: %w", dept, err)
		}
		if n > 0 {
			wm.Departments[dept] = m
		}
	}
	return wm, nil
}

// parallel runs fns concurrently and returns their errors joined.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sorted returns the keys of m in order.
func sorted[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
