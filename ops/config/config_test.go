package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crossledger/crossledger/ops/config"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const secret = "00112233445566778899aabbccddeeff"

func TestExampleLoads(t *testing.T) {
	c, err := config.Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(".")
	if want := filepath.Join(abs, "data/log"); c.Log.Dir != filepath.Join(".", "data/log") && c.Log.Dir != want {
		t.Errorf("log.dir %q, want it relative to the file", c.Log.Dir)
	}
	if got := c.Kafka.Brokers; len(got) != 1 || got[0] != "127.0.0.1:9092" {
		t.Errorf("brokers %q", got)
	}
	if c.Ingest.MinFreeDisk != 1<<30 || c.Ingest.BatchAge != 20*time.Millisecond || c.Store.SQLite == nil {
		t.Errorf("ingest %+v store %+v", c.Ingest, c.Store)
	}
	if !*c.Log.WaitForLock || c.Metrics.Listen != "127.0.0.1:9464" {
		t.Errorf("log %+v metrics %+v", c.Log, c.Metrics)
	}
	// The example leaves the ledger secret to the environment.
	if err := c.ValidateIngest(); err == nil || !strings.Contains(err.Error(), "ledger_secret") {
		t.Errorf("ValidateIngest without secret: %v", err)
	}
	data, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err = config.Parse("example.yaml", data, env(map[string]string{config.EnvLedgerSecret: secret}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateIngest(); err != nil {
		t.Fatalf("ValidateIngest: %v", err)
	}
	ic := c.IngestConfig()
	if ic.BatchSize != 1000 || ic.ChangesTopic != "crossledger.changes" || ic.TopicPartitions != 6 || ic.MinFreeDisk != 1<<30 {
		t.Errorf("IngestConfig %+v", ic)
	}
	if _, err := c.LoadCatalog(); err != nil {
		t.Error(err)
	}
	if _, err := c.LoadGenesis(); err != nil {
		t.Error(err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse("/etc/cl/c.yaml", []byte("log: {dir: log}\nkafka: {brokers: k:9092}\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Dir != "/etc/cl/log" {
		t.Errorf("log.dir %q, want resolved against the file's directory", c.Log.Dir)
	}
	if c.Kafka.Topics.Receipts != "crossledger.receipts" || c.Kafka.Partitions != 6 || c.Kafka.ReplicationFactor != 1 {
		t.Errorf("kafka defaults %+v", c.Kafka)
	}
	in := c.Ingest
	if in.BatchSize != 1000 || in.BatchAge != 20*time.Millisecond || in.MaxPending != 1024 || in.Verifiers < 1 ||
		in.FetchMaxWait != 250*time.Millisecond || in.MaxProjectionLag != 100000 || in.MinFreeDisk != 1<<30 {
		t.Errorf("ingest defaults %+v", in)
	}
	if c.Store.BatchSize != 1000 || !*c.Log.WaitForLock || c.Metrics.Listen != config.DefaultMetricsListen {
		t.Errorf("defaults: store %+v log %+v metrics %+v", c.Store, c.Log, c.Metrics)
	}
	if !c.UsesDemoKeys() {
		t.Error("no catalog/genesis: UsesDemoKeys false")
	}
	// An empty file is a valid (if useless) config.
	if _, err := config.Parse("empty.yaml", nil, env(nil)); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestLoadErrorsHaveLines(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string // substring of the error
	}{
		{"unknown top-level key", "log:\n  dir: x\nlogg: 1\n", 3, "field logg not found"},
		{"unknown nested key", "log:\n  dir: x\n  keyfile: y\n", 3, "field keyfile not found"},
		{"wrong type", "ingest:\n  batch_size: lots\n", 2, "cannot unmarshal"},
		{"bad duration", "ingest:\n  batch_age: soon\n", 2, ""},
		{"bad size", "ingest:\n  min_free_disk: 3 parsecs\n", 2, "not a size"},
		{"syntax (yaml.v3 names the line before the tab)", "log:\n  dir: x\n\tkey_file: y\n", 2, "tab character"},
		{"batch size range", "ingest:\n  payload_dir: p\n  batch_size: 1000000\n", 3, "ingest.batch_size: must be in [1, 100000]"},
		{"negative verifiers", "ingest:\n  verifiers: -2\n", 2, "ingest.verifiers"},
		{"bad broker", "kafka:\n  brokers:\n    - ok:9092\n    - nope\n", 4, `kafka.brokers.1: "nope" is not host:port`},
		{"duplicate topic", "kafka:\n  topics:\n    changes: a\n    access: a\n", 4, `kafka.topics.access: topic "a" is also the changes topic`},
		{"both stores", "store:\n  sqlite: {path: p}\n  clickhouse: {addr: h:9000}\n", 1, "store: give one of sqlite and clickhouse"},
		{"clickhouse without addr", "store:\n  clickhouse:\n    database: x\n", 2, "store.clickhouse.addr: is required"},
		{"bad clickhouse department", "store:\n  clickhouse:\n    addr: h:9000\n    departments:\n      tax: {addr: [h]}\n", 5, "store.clickhouse.departments.tax.addr.0"},
		{"bad secret", "log: {dir: d}\n\nledger_secret: abc\n", 3, "ledger_secret: must be at least 16 bytes in hex"},
		{"bad listen", "metrics:\n  listen: 9464\n", 2, "metrics.listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("c.yaml", []byte(tc.yaml), env(nil))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want *config.Error", err, err)
			}
			if ce.Line != tc.line || ce.File != "c.yaml" || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (line %d), want line %d and %q", err, ce.Line, tc.line, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "c.yaml:") {
				t.Errorf("error %q does not start with the file", err)
			}
		})
	}
}

func TestValidateIngestNamesTheMissingField(t *testing.T) {
	full := map[string]string{
		"log":    "log: {dir: l, key_file: k}\n",
		"kafka":  "kafka: {brokers: [b:1]}\n",
		"ingest": "ingest: {payload_dir: p}\n",
		"store":  "store: {sqlite: {path: s}}\n",
		"secret": "ledger_secret: " + secret + "\n",
	}
	for _, tc := range []struct{ drop, field string }{
		{"log", "log.dir"}, {"kafka", "kafka.brokers"}, {"ingest", "ingest.payload_dir"},
		{"store", "store"}, {"secret", "ledger_secret"},
	} {
		var b strings.Builder
		for _, k := range []string{"log", "kafka", "ingest", "store", "secret"} {
			if k != tc.drop {
				b.WriteString(full[k])
			}
		}
		c, err := config.Parse("c.yaml", []byte(b.String()), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		err = c.ValidateIngest()
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("without %s: %v, want an error on %s", tc.drop, err, tc.field)
		}
	}
	var b strings.Builder
	for _, v := range full {
		b.WriteString(v)
	}
	c, err := config.Parse("c.yaml", []byte(b.String()), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateIngest(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvOverridesSecrets(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "log.key")
	if err := os.WriteFile(keyFile, []byte("PRIVATE+KEY+from+file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := `
log: {dir: l, key_file: log.key}
ledger_secret: ffffffffffffffffffffffffffffffff
store:
  clickhouse:
    addr: ch:9000
    password: from-file
    departments:
      real-estate: {addr: re:9000, password: re-file}
      tax: {database: tax_db}
`
	name := filepath.Join(dir, "c.yaml")
	c, err := config.Parse(name, []byte(yml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := c.LogKey(); err != nil || k != "PRIVATE+KEY+from+file" {
		t.Errorf("LogKey from file = %q, %v", k, err)
	}
	if s, _ := c.Secret(); len(s) != 16 || s[0] != 0xff {
		t.Errorf("secret from file %x", s)
	}
	cc := c.ClickHouseConfig()
	if cc.Server.Password != "from-file" || cc.Departments["real-estate"].Server.Password != "re-file" || cc.Database != "crossledger" {
		t.Errorf("clickhouse from file %+v", cc)
	}

	c, err = config.Parse(name, []byte(yml), env(map[string]string{
		config.EnvLogKey:                            "PRIVATE+KEY+from+env",
		config.EnvLedgerSecret:                      secret,
		config.EnvClickHousePassword:                "from-env",
		config.DepartmentPasswordEnv("real-estate"): "re-env",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := c.LogKey(); err != nil || k != "PRIVATE+KEY+from+env" {
		t.Errorf("LogKey from env = %q, %v", k, err)
	}
	if s, _ := c.Secret(); len(s) != 16 || s[0] != 0 || s[15] != 0xff {
		t.Errorf("secret from env %x", s)
	}
	cc = c.ClickHouseConfig()
	if cc.Server.Password != "from-env" || cc.Departments["real-estate"].Server.Password != "re-env" {
		t.Errorf("clickhouse from env %+v", cc)
	}
	if d := cc.Departments["tax"]; len(d.Server.Addr) != 0 || d.Database != "tax_db" {
		t.Errorf("tax placement %+v", d)
	}
	if config.DepartmentPasswordEnv("real-estate") != "CROSSLEDGER_CLICKHOUSE_PASSWORD_REAL_ESTATE" {
		t.Error(config.DepartmentPasswordEnv("real-estate"))
	}
	// A key in the environment makes key_file optional.
	c, err = config.Parse(name, []byte("log: {dir: l}\nkafka: {brokers: b:1}\ningest: {payload_dir: p}\nstore: {sqlite: {path: s}}\n"),
		env(map[string]string{config.EnvLogKey: "K", config.EnvLedgerSecret: secret}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateIngest(); err != nil {
		t.Errorf("key from env, no key_file: %v", err)
	}
}
