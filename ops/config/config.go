// Package config is the crossledger binary's configuration: one YAML file,
// decoded strictly into [Config] and documented field by field, plus
// environment overrides for secrets. Every subcommand that runs a
// component (`crossledger ingest`, later `gateway`, …) reads the same file
// and uses the sections it needs.
//
// # Format
//
//	log:
//	  dir: /var/lib/crossledger/log          # required
//	  key_file: /etc/crossledger/log.key     # or $CROSSLEDGER_LOG_KEY
//	  wait_for_lock: true                    # standby until the writer exits
//	  witness_policy: /etc/crossledger/witnesses.policy  # publish only what a quorum cosigned
//	  witness_timeout: 5s
//	kafka:
//	  brokers: [kafka-1:9092, kafka-2:9092]  # required
//	  topics: {changes: crossledger.changes, access: crossledger.access,
//	           receipts: crossledger.receipts, rejected: crossledger.rejected}
//	  partitions: 6
//	  replication_factor: 3
//	catalog:
//	  dir: /etc/crossledger/departments      # default: the built-in demo schemas
//	genesis:
//	  file: /etc/crossledger/genesis.yaml    # default: the built-in demo genesis
//	ingest:
//	  payload_dir: /var/lib/crossledger/payloads
//	  batch_size: 1000
//	  batch_age: 20ms
//	  max_pending: 1024
//	  verifiers: 0                           # 0: one per CPU
//	  fetch_max_wait: 250ms
//	  max_projection_lag: 100000
//	  min_free_disk: 1GiB
//	  max_unwitnessed: 10000
//	store:
//	  sqlite: {path: /var/lib/crossledger/projection.db}
//	  # or
//	  clickhouse:
//	    addr: [clickhouse:9000]
//	    database: crossledger
//	    username: default
//	    password: ""                         # or $CROSSLEDGER_CLICKHOUSE_PASSWORD
//	    departments:
//	      tax: {addr: [tax-ch:9000], database: tax_ledger}
//	  batch_size: 1000
//	ledger_secret: <hex, ≥ 16 bytes>         # or $CROSSLEDGER_LEDGER_SECRET
//	metrics:
//	  listen: 127.0.0.1:9464
//
// Unknown keys are errors. Every error that concerns the file is an
// [*Error] with the file, the line (when the field is in the file), the
// field's dotted path and the reason. Relative paths are relative to the
// directory of the config file. Durations are Go durations ("20ms", "5s");
// sizes are bytes, with an optional KB/MB/GB/TB or KiB/MiB/GiB/TiB suffix.
//
// # Environment
//
// Secrets may stay out of the file; when set, these variables win over it:
//
//	CROSSLEDGER_LOG_KEY                     the log signer key itself (not a file name)
//	CROSSLEDGER_LEDGER_SECRET               ledger_secret (hex)
//	CROSSLEDGER_CLICKHOUSE_PASSWORD         store.clickhouse.password
//	CROSSLEDGER_CLICKHOUSE_PASSWORD_<DEPT>  store.clickhouse.departments.<dept>.password,
//	                                        DEPT upper-cased with '-' as '_'
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/internal/bytesize"
	"github.com/crossledger/crossledger/internal/yamlpos"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store/clickhouse"
	"github.com/crossledger/crossledger/store/sqlite"
)

// Environment variables that override secrets in the file.
const (
	EnvLogKey             = "CROSSLEDGER_LOG_KEY"
	EnvLedgerSecret       = "CROSSLEDGER_LEDGER_SECRET"
	EnvClickHousePassword = "CROSSLEDGER_CLICKHOUSE_PASSWORD"
)

// DefaultMetricsListen is the default address of the metrics and health
// endpoints.
const DefaultMetricsListen = "127.0.0.1:9464"

// Config is the whole configuration file. Sections a command does not use
// may be left out.
type Config struct {
	// Log is the transparency log this process writes.
	Log Log `yaml:"log"`
	// Kafka is the cluster changes, access events and receipts flow through.
	Kafka Kafka `yaml:"kafka"`
	// Catalog is where the department schemas come from.
	Catalog Catalog `yaml:"catalog"`
	// Genesis is the genesis file: log origin, governance key, initial
	// department keys.
	Genesis Genesis `yaml:"genesis"`
	// Ingest tunes ingest's batching and backpressure: the yaml-tagged
	// fields of ingest.Config, documented there (brokers and topics come
	// from the kafka section).
	Ingest ingest.Config `yaml:"ingest"`
	// Store is the projection store.
	Store Store `yaml:"store"`
	// LedgerSecret keys the subject tags in the projection (HMAC of a
	// citizen id): hex, at least 16 bytes, and the same for the whole life
	// of a projection (changing it makes a projection that must be rebuilt
	// with `crossledger reproject`). $CROSSLEDGER_LEDGER_SECRET wins over
	// the file. Required by ingest.
	LedgerSecret string `yaml:"ledger_secret"`
	// Metrics is where /metrics, /healthz and /readyz are served.
	Metrics Metrics `yaml:"metrics"`

	// Gateway configures `crossledger gateway` (see gateway.go).
	Gateway Gateway `yaml:"gateway"`
	// Witness configures `crossledger witness` (see witness.go).
	Witness Witness `yaml:"witness"`

	file string     // the config file's name, for errors
	root *yaml.Node // the decoded document, for error lines
}

// Log configures the transparency log (merkle.Options).
type Log struct {
	// Dir is the log directory: tiles, entry bundles, checkpoint, journal
	// and the writer lock. Required.
	Dir string `yaml:"dir"`
	// KeyFile is the log's signer key in signed-note format, as made by
	// `crossledger keygen log`; its key name is the log origin. Required
	// unless $CROSSLEDGER_LOG_KEY holds the key itself (which wins).
	KeyFile string `yaml:"key_file"`
	// WaitForLock makes a process that finds the log locked by another
	// writer wait as a standby and take over when that one exits (true),
	// instead of failing at once (false). Default true.
	WaitForLock *bool `yaml:"wait_for_lock"`
	// WitnessPolicy is a C2SP tlog-policy file (witness lines with their
	// URLs, groups, one quorum line): a checkpoint is published — served
	// at /checkpoint, put in receipts and proofs — only once that quorum
	// cosigned it. Below quorum nothing new is published and ingest
	// pauses (ingest.max_unwitnessed). Unset: the log alone signs.
	WitnessPolicy string `yaml:"witness_policy"`
	// WitnessTimeout bounds one round of cosigning requests. Default 5s.
	WitnessTimeout time.Duration `yaml:"witness_timeout"`

	key string // from the environment
}

// Kafka configures the Kafka cluster and crossledger's topics.
type Kafka struct {
	// Brokers are the bootstrap addresses (host:port): a list, or one
	// string. Required.
	Brokers StringList `yaml:"brokers"`
	// Topics are the topic names.
	Topics Topics `yaml:"topics"`
	// Partitions and ReplicationFactor are used when a missing topic is
	// created. Defaults 6 and 1 (use 3 on a production cluster).
	Partitions        int `yaml:"partitions"`
	ReplicationFactor int `yaml:"replication_factor"`
}

// Topics names crossledger's topics.
type Topics struct {
	// Changes carries department changes. Default crossledger.changes.
	Changes string `yaml:"changes"`
	// Access carries the gateway's access events. Default crossledger.access.
	Access string `yaml:"access"`
	// Receipts carries ingest's receipts. Default crossledger.receipts.
	Receipts string `yaml:"receipts"`
	// Rejected carries rejected messages with their reason headers.
	// Default crossledger.rejected.
	Rejected string `yaml:"rejected"`
}

// Catalog configures the department schemas.
type Catalog struct {
	// Dir holds one schema file per department (see `crossledger schema
	// check`). Default: the built-in demo schemas (for demos only).
	Dir string `yaml:"dir"`
}

// Genesis configures the genesis file.
type Genesis struct {
	// File is the genesis file (log origin, governance key, initial
	// department keys). Default: the built-in demo genesis, whose keys
	// come from public seeds: anyone can sign as its departments. Never
	// run a real ledger on it.
	File string `yaml:"file"`
}

// Store configures the projection store: exactly one of SQLite and
// ClickHouse.
type Store struct {
	// SQLite is the embedded store: one file.
	SQLite *SQLite `yaml:"sqlite"`
	// ClickHouse is the production store: a ledger database and one
	// database per department, each department optionally on its own
	// server.
	ClickHouse *ClickHouse `yaml:"clickhouse"`
	// BatchSize is the most entries per projection write. Default 1000.
	BatchSize int `yaml:"batch_size"`
}

// SQLite configures the embedded projection store.
type SQLite struct {
	// Path is the database file, created if missing. Required.
	Path string `yaml:"path"`
}

// ClickHouse configures the ClickHouse projection store.
type ClickHouse struct {
	// Addr lists native-protocol addresses (host:port, usually port 9000)
	// of the default server: a list, or one string. Required.
	Addr StringList `yaml:"addr"`
	// Username defaults to "default".
	Username string `yaml:"username"`
	// Password; $CROSSLEDGER_CLICKHOUSE_PASSWORD wins.
	Password string `yaml:"password"`
	// Database is the ledger database; departments get
	// "<database>_<department id>" unless placed otherwise. Default
	// crossledger.
	Database string `yaml:"database"`
	// Departments places departments on their own server and/or
	// database, by department id (federation: a department runs its own
	// ClickHouse).
	Departments map[string]ClickHouseDepartment `yaml:"departments"`
}

// ClickHouseDepartment places one department's tables.
type ClickHouseDepartment struct {
	// Addr is the department's server; empty means the default server.
	Addr StringList `yaml:"addr"`
	// Username and Password for the department's server. Username
	// defaults to the default server's; so does Password when both are
	// unset. $CROSSLEDGER_CLICKHOUSE_PASSWORD_<DEPT> wins over the
	// password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Database defaults to "<store.clickhouse.database>_<department id>".
	Database string `yaml:"database"`
}

// Metrics configures the metrics and health endpoints.
type Metrics struct {
	// Listen is the HTTP address of /metrics (Prometheus), /healthz (the
	// process is alive) and /readyz (it is doing its job). Default
	// 127.0.0.1:9464; use :9464 to serve every interface.
	Listen string `yaml:"listen"`
}

// StringList is a list of strings that may be written as one string.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "" {
			*l = nil
			return nil
		}
		*l = StringList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// ByteSize is a size in bytes, written as an integer or with a unit
// suffix ("1GiB", "500 MB"; see internal/bytesize).
type ByteSize = bytesize.Size

// Error is a problem with the configuration file.
type Error struct {
	File  string
	Line  int    // 0 when the field is not in the file
	Field string // dotted path, e.g. "ingest.batch_size"
	// Reason says what is wrong.
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Load reads, decodes, completes (env overrides, defaults, relative
// paths) and validates the config file name.
func Load(name string) (*Config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("couldn't read config file: %w", err)
	}
	return Parse(name, data, os.LookupEnv)
}

// Parse is [Load] on data already read; name is used in errors and to
// resolve relative paths; lookupEnv reads the environment (os.LookupEnv,
// or a map in tests).
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	c := &Config{file: name}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErr(name, err)
	}
	c.root = &root
	if len(root.Content) > 0 { // an empty file decodes to the zero Config
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil {
			return nil, yamlErr(name, err)
		}
	}
	c.applyEnv(lookupEnv)
	c.SetDefaults()
	c.resolvePaths(filepath.Dir(name))
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) {
	if v, ok := lookupEnv(EnvLogKey); ok && v != "" {
		c.Log.key = strings.TrimSpace(v)
	}
	if v, ok := lookupEnv(EnvWitnessKey); ok && v != "" {
		c.Witness.key = strings.TrimSpace(v)
	}
	if v, ok := lookupEnv(EnvLedgerSecret); ok && v != "" {
		c.LedgerSecret = strings.TrimSpace(v)
	}
	if ch := c.Store.ClickHouse; ch != nil {
		if v, ok := lookupEnv(EnvClickHousePassword); ok {
			ch.Password = v
		}
		for id, d := range ch.Departments {
			if v, ok := lookupEnv(DepartmentPasswordEnv(id)); ok {
				d.Password = v
				ch.Departments[id] = d
			}
		}
	}
}

// DepartmentPasswordEnv is the variable that overrides the ClickHouse
// password of department id's server.
func DepartmentPasswordEnv(id string) string {
	return EnvClickHousePassword + "_" + strings.ToUpper(strings.ReplaceAll(id, "-", "_"))
}

// SetDefaults fills zero fields with their documented defaults.
func (c *Config) SetDefaults() {
	if c.Log.WaitForLock == nil {
		t := true
		c.Log.WaitForLock = &t
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	// The kafka and ingest defaults are ingest.Config's own.
	ic := c.IngestConfig()
	ic.SetDefaults()
	k := &c.Kafka
	k.Topics = Topics{Changes: ic.ChangesTopic, Access: ic.AccessTopic, Receipts: ic.ReceiptsTopic, Rejected: ic.RejectedTopic}
	k.Partitions, k.ReplicationFactor = ic.TopicPartitions, ic.ReplicationFactor
	ic.Brokers, ic.ChangesTopic, ic.AccessTopic, ic.ReceiptsTopic, ic.RejectedTopic = nil, "", "", "", ""
	ic.TopicPartitions, ic.ReplicationFactor = 0, 0
	c.Ingest = ic
	if c.Store.BatchSize == 0 {
		c.Store.BatchSize = 1000
	}
	if ch := c.Store.ClickHouse; ch != nil {
		def(&ch.Database, "crossledger")
		def(&ch.Username, "default")
	}
	def(&c.Metrics.Listen, DefaultMetricsListen)
	def(&c.Witness.Listen, DefaultWitnessListen)
}

func (c *Config) resolvePaths(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.Log.Dir)
	abs(&c.Log.KeyFile)
	abs(&c.Log.WitnessPolicy)
	abs(&c.Gateway.WitnessPolicy)
	abs(&c.Witness.KeyFile)
	abs(&c.Witness.StateDir)
	abs(&c.Catalog.Dir)
	abs(&c.Genesis.File)
	abs(&c.Ingest.PayloadDir)
	abs(&c.Gateway.KeyFile)
	abs(&c.Gateway.Outbox)
	if c.Store.SQLite != nil {
		abs(&c.Store.SQLite.Path)
	}
}

// errorf makes an *Error for field, with its line if the field (or its
// nearest enclosing section) is in the file.
func (c *Config) errorf(field, format string, args ...any) *Error {
	return &Error{File: c.file, Line: yamlpos.Line(c.root, yamlpos.Dotted(field)...), Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks the values that are set; what a particular command
// requires on top is checked by its own method ([Config.ValidateIngest]).
func (c *Config) Validate() error {
	for i, b := range c.Kafka.Brokers {
		if err := checkHostPort(b); err != nil {
			return c.errorf(fmt.Sprintf("kafka.brokers.%d", i), "%v", err)
		}
	}
	if c.Kafka.Partitions < 1 {
		return c.errorf("kafka.partitions", "must be ≥ 1, got %d", c.Kafka.Partitions)
	}
	if c.Kafka.ReplicationFactor < 1 {
		return c.errorf("kafka.replication_factor", "must be ≥ 1, got %d", c.Kafka.ReplicationFactor)
	}
	seen := map[string]string{}
	for _, t := range []struct{ field, name string }{
		{"changes", c.Kafka.Topics.Changes}, {"access", c.Kafka.Topics.Access},
		{"receipts", c.Kafka.Topics.Receipts}, {"rejected", c.Kafka.Topics.Rejected},
	} {
		if other, ok := seen[t.name]; ok {
			return c.errorf("kafka.topics."+t.field, "topic %q is also the %s topic", t.name, other)
		}
		seen[t.name] = t.field
	}
	if err := c.Ingest.ValidateTunables(); err != nil {
		return c.ingestError(err)
	}
	if err := c.checkWitnessTimeout(); err != nil {
		return err
	}
	if _, err := c.WitnessPolicy(); err != nil {
		return err
	}
	st := c.Store
	if st.SQLite != nil && st.ClickHouse != nil {
		return c.errorf("store", "give one of sqlite and clickhouse, not both")
	}
	if st.SQLite != nil && st.SQLite.Path == "" {
		return c.errorf("store.sqlite.path", "is required")
	}
	if st.BatchSize < 1 {
		return c.errorf("store.batch_size", "must be ≥ 1, got %d", st.BatchSize)
	}
	if ch := st.ClickHouse; ch != nil {
		if len(ch.Addr) == 0 {
			return c.errorf("store.clickhouse.addr", "is required")
		}
		for i, a := range ch.Addr {
			if err := checkHostPort(a); err != nil {
				return c.errorf(fmt.Sprintf("store.clickhouse.addr.%d", i), "%v", err)
			}
		}
		for id, d := range ch.Departments {
			for i, a := range d.Addr {
				if err := checkHostPort(a); err != nil {
					return c.errorf(fmt.Sprintf("store.clickhouse.departments.%s.addr.%d", id, i), "%v", err)
				}
			}
		}
		if err := c.ClickHouseConfig().Validate(); err != nil {
			return c.errorf("store.clickhouse", "%v", err)
		}
	}
	if c.LedgerSecret != "" {
		if _, err := c.Secret(); err != nil {
			return c.errorf("ledger_secret", "%v", err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
		return c.errorf("metrics.listen", "%q is not host:port", c.Metrics.Listen)
	}
	return nil
}

// ValidateIngest checks that c has everything `crossledger ingest` needs.
func (c *Config) ValidateIngest() error {
	switch {
	case c.Log.Dir == "":
		return c.errorf("log.dir", "is required")
	case c.Log.KeyFile == "" && c.Log.key == "":
		return c.errorf("log.key_file", "is required (or set $%s to the key)", EnvLogKey)
	case len(c.Kafka.Brokers) == 0:
		return c.errorf("kafka.brokers", "is required")
	case c.Ingest.PayloadDir == "":
		return c.errorf("ingest.payload_dir", "is required")
	case c.Store.SQLite == nil && c.Store.ClickHouse == nil:
		return c.errorf("store", "give sqlite or clickhouse")
	case c.LedgerSecret == "":
		return c.errorf("ledger_secret", "is required (or set $%s)", EnvLedgerSecret)
	}
	ic := c.IngestConfig()
	if err := ic.Validate(); err != nil {
		return c.ingestError(err)
	}
	return nil
}

// ingestError places an ingest.Config error in the file: a field of the
// ingest section, with its line.
func (c *Config) ingestError(err error) error {
	var fe *ingest.FieldError
	if !errors.As(err, &fe) {
		return c.errorf("ingest", "%v", err)
	}
	return c.errorf("ingest."+fe.Field, "%s", fe.Reason)
}

func checkHostPort(s string) error {
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		return fmt.Errorf("%q is not host:port", s)
	}
	return nil
}

// LogKey returns the log signer key: $CROSSLEDGER_LOG_KEY, or the contents
// of log.key_file.
func (c *Config) LogKey() (string, error) {
	return c.key(c.Log.key, c.Log.KeyFile, "log.key_file", EnvLogKey, "log")
}

// key returns a signer key: fromEnv if set, else the contents of file
// (the config field named field, overridden by $env).
func (c *Config) key(fromEnv, file, field, env, what string) (string, error) {
	if fromEnv != "" {
		return fromEnv, nil
	}
	if file == "" {
		return "", c.errorf(field, "is required (or set $%s to the key)", env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("couldn't read %s key: %w", what, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Secret decodes the ledger secret.
func (c *Config) Secret() ([]byte, error) {
	s, err := hex.DecodeString(c.LedgerSecret)
	if err != nil || len(s) < 16 {
		return nil, errors.New("must be at least 16 bytes in hex")
	}
	return s, nil
}

// IngestConfig is the ingest.Config the file describes (before ingest's
// defaults; [Config.SetDefaults] has filled them after [Load]).
func (c *Config) IngestConfig() ingest.Config {
	k, ic := c.Kafka, c.Ingest
	ic.Brokers = append([]string(nil), k.Brokers...)
	ic.ChangesTopic, ic.AccessTopic, ic.ReceiptsTopic, ic.RejectedTopic = k.Topics.Changes, k.Topics.Access, k.Topics.Receipts, k.Topics.Rejected
	ic.TopicPartitions, ic.ReplicationFactor = k.Partitions, k.ReplicationFactor
	return ic
}

// SQLiteConfig is the SQLite store's configuration (store.sqlite must be set).
func (c *Config) SQLiteConfig() sqlite.Config {
	return sqlite.Config{Path: c.Store.SQLite.Path}
}

// ClickHouseConfig is the ClickHouse store's configuration
// (store.clickhouse must be set).
func (c *Config) ClickHouseConfig() clickhouse.Config {
	ch := c.Store.ClickHouse
	out := clickhouse.Config{
		Server:   clickhouse.Server{Addr: append([]string(nil), ch.Addr...), Username: ch.Username, Password: ch.Password},
		Database: ch.Database,
	}
	if len(ch.Departments) > 0 {
		out.Departments = map[string]clickhouse.Department{}
		for id, d := range ch.Departments {
			var srv clickhouse.Server
			if len(d.Addr) > 0 {
				srv = clickhouse.Server{Addr: append([]string(nil), d.Addr...), Username: d.Username, Password: d.Password}
				if srv.Username == "" {
					srv.Username = ch.Username
					if srv.Password == "" {
						srv.Password = ch.Password
					}
				}
			}
			out.Departments[id] = clickhouse.Department{Server: srv, Database: d.Database}
		}
	}
	return out
}

// LoadCatalog loads the department schemas: catalog.dir, or the demo set.
func (c *Config) LoadCatalog() (*schema.Catalog, error) {
	if c.Catalog.Dir == "" {
		return schema.DemoCatalog()
	}
	return schema.LoadDir(c.Catalog.Dir)
}

// LoadGenesis loads genesis.file, or the demo genesis.
func (c *Config) LoadGenesis() (*schema.Genesis, error) {
	if c.Genesis.File == "" {
		return schema.DemoGenesis()
	}
	return schema.LoadGenesisFile(c.Genesis.File)
}

// UsesDemoKeys reports whether the catalog or genesis is the built-in
// demo one (whose keys anyone can derive): commands warn about it.
func (c *Config) UsesDemoKeys() bool { return c.Genesis.File == "" || c.Catalog.Dir == "" }

// yamlErr turns a yaml.v3 error into an *Error with the line.
func yamlErr(file string, err error) error {
	line, reason := yamlpos.Locate(err)
	return &Error{File: file, Line: line, Reason: reason}
}
