package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/gateway"
	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/limits"
)

// EnvGatewayKey overrides gateway.key_file with the key itself.
const EnvGatewayKey = "CROSSLEDGER_GATEWAY_KEY"

// DefaultGatewayListen is the default address of `crossledger gateway`.
const DefaultGatewayListen = "127.0.0.1:8081"

// Gateway configures `crossledger gateway`: where it listens, how it
// reaches the log and signs access entries, who may call it, and its
// limits. It also uses the kafka, catalog, genesis, store, ledger_secret
// and metrics sections.
//
//	gateway:
//	  listen: 0.0.0.0:8081
//	  id: gateway                        # its department id in the genesis
//	  key_file: /etc/crossledger/gateway.key   # or $CROSSLEDGER_GATEWAY_KEY
//	  outbox: /var/lib/crossledger/gateway-outbox.db
//	  log_url: http://ingest:9464/       # the log's tile and proof API
//	  log_public_key: haidian.example/crossledger+1a2b3c4d+AbC…
//	  witness_policy: /etc/crossledger/witnesses.policy   # follow only checkpoints its quorum cosigned
//	  purposes: [real-estate-transfer, tax-assessment]
//	  issuers:
//	    - issuer: https://idp.haidian.example
//	      jwks_url: https://idp.haidian.example/.well-known/jwks.json
//	  federation_timeout: 3s
//	  limits: {max_depth: 12, max_cost: 10000, query_timeout: 10s}
//	  rate: {per_second: 20, burst: 40, anonymous_per_second: 2, anonymous_burst: 10}
type Gateway struct {
	// Listen is the HTTP address of GraphQL (/graphql), GraphiQL (/),
	// /metrics, /healthz and /readyz. Default 127.0.0.1:8081.
	Listen string `yaml:"listen"`
	// ID is the gateway's department id: it signs access entries as this
	// department, whose key must be in the genesis. Default "gateway".
	ID string `yaml:"id"`
	// KeyFile holds the gateway's Ed25519 key as `crossledger keygen
	// department` writes it (base64url seed). $CROSSLEDGER_GATEWAY_KEY
	// (the key itself) wins. Required.
	KeyFile string `yaml:"key_file"`
	// Outbox is the SQLite outbox of access entries (the gateway's seqs
	// live there). Required.
	Outbox string `yaml:"outbox"`
	// LogURL is the base URL of the log's HTTP API (`crossledger ingest`
	// serves it on metrics.listen). Required.
	LogURL string `yaml:"log_url"`
	// LogPublicKey is the log's note verifier key (what the .pub file of
	// `crossledger keygen log` holds), or "@" and the path of that file.
	// Every checkpoint the gateway follows must be signed by it and
	// consistent with the last. Required.
	LogPublicKey string `yaml:"log_public_key"`
	// WitnessPolicy, if set, is a C2SP tlog-policy file: the gateway
	// follows the log only to checkpoints carrying its quorum of witness
	// cosignatures, so it never hands out a proof the witnesses did not
	// vouch for.
	WitnessPolicy string `yaml:"witness_policy"`
	// Purposes are the business purposes callers may declare. Required.
	Purposes []string `yaml:"purposes"`
	// Issuers are the token issuers the gateway trusts. Required.
	Issuers []auth.IssuerConfig `yaml:"issuers"`
	// FederationTimeout bounds person's fan-out to the departments.
	// Default 3s.
	FederationTimeout time.Duration `yaml:"federation_timeout"`
	// MaxRecords bounds one department's records in a person answer.
	// Default 100.
	MaxRecords int `yaml:"max_records"`
	// Limits bound requests; zero fields take gateway/limits' defaults.
	Limits GatewayLimits `yaml:"limits"`
	// Rate limits requests; zero fields take the defaults.
	Rate GatewayRate `yaml:"rate"`
}

// GatewayLimits are the request limits (see gateway/limits.Limits).
type GatewayLimits struct {
	MaxBodyBytes  ByteSize      `yaml:"max_body_bytes"`  // default 256 KiB
	MaxQueryBytes ByteSize      `yaml:"max_query_bytes"` // default 16 KiB
	MaxDepth      int           `yaml:"max_depth"`       // default 12
	MaxFields     int           `yaml:"max_fields"`      // default 500
	MaxCost       int           `yaml:"max_cost"`        // default 10000
	MaxListSize   int           `yaml:"max_list_size"`   // default 100
	QueryTimeout  time.Duration `yaml:"query_timeout"`   // default 10s
}

// GatewayRate are the rate limits: per identity, and per client address
// for unauthenticated requests.
type GatewayRate struct {
	PerSecond          float64 `yaml:"per_second"`           // default 20
	Burst              int     `yaml:"burst"`                // default 40
	AnonymousPerSecond float64 `yaml:"anonymous_per_second"` // default 2
	AnonymousBurst     int     `yaml:"anonymous_burst"`      // default 10
}

// ValidateGateway checks that c has everything `crossledger gateway`
// needs.
func (c *Config) ValidateGateway() error {
	g := c.Gateway
	switch {
	case g.KeyFile == "" && os.Getenv(EnvGatewayKey) == "":
		return c.errorf("gateway.key_file", "is required (or set $%s to the key)", EnvGatewayKey)
	case g.Outbox == "":
		return c.errorf("gateway.outbox", "is required")
	case g.LogURL == "":
		return c.errorf("gateway.log_url", "is required")
	case g.LogPublicKey == "":
		return c.errorf("gateway.log_public_key", "is required")
	case len(g.Purposes) == 0:
		return c.errorf("gateway.purposes", "is required")
	case len(g.Issuers) == 0:
		return c.errorf("gateway.issuers", "is required: the gateway must trust at least one token issuer")
	case len(c.Kafka.Brokers) == 0:
		return c.errorf("kafka.brokers", "is required")
	case c.Store.SQLite == nil && c.Store.ClickHouse == nil:
		return c.errorf("store", "give sqlite or clickhouse")
	case c.LedgerSecret == "":
		return c.errorf("ledger_secret", "is required (or set $%s)", EnvLedgerSecret)
	}
	vkey, err := c.LogPublicKey()
	if err != nil {
		return c.errorf("gateway.log_public_key", "%v", err)
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return c.errorf("gateway.log_public_key", "is not a note verifier key: %v", err)
	}
	if _, err := c.GatewayWitnessPolicy(); err != nil {
		return err
	}
	if err := checkHostPort(g.listen()); err != nil {
		return c.errorf("gateway.listen", "%v", err)
	}
	for i, is := range g.Issuers {
		if err := is.Validate(); err != nil {
			return c.errorf(fmt.Sprintf("gateway.issuers[%d]", i), "%v", err)
		}
	}
	if err := c.GatewayLimits().Validate(); err != nil {
		return c.errorf("gateway.limits", "%v", err)
	}
	if err := c.GatewayRates().Validate(); err != nil {
		return c.errorf("gateway.rate", "%v", err)
	}
	return nil
}

func (g Gateway) listen() string {
	if g.Listen == "" {
		return DefaultGatewayListen
	}
	return g.Listen
}

// GatewayListen is the gateway's listen address.
func (c *Config) GatewayListen() string { return c.Gateway.listen() }

// GatewayID is the gateway's department id.
func (c *Config) GatewayID() string {
	if c.Gateway.ID == "" {
		return "gateway"
	}
	return c.Gateway.ID
}

// LogPublicKey returns gateway.log_public_key, reading the file when it
// is "@path".
func (c *Config) LogPublicKey() (string, error) {
	k := c.Gateway.LogPublicKey
	name, ok := strings.CutPrefix(k, "@")
	if !ok {
		return k, nil
	}
	if !filepath.IsAbs(name) && c.file != "" {
		name = filepath.Join(filepath.Dir(c.file), name)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("couldn't read the log's public key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// GatewayKey reads the gateway's signing key: $CROSSLEDGER_GATEWAY_KEY, or
// gateway.key_file.
func (c *Config) GatewayKey() (ed25519.PrivateKey, error) {
	text := os.Getenv(EnvGatewayKey)
	if text == "" {
		b, err := os.ReadFile(c.Gateway.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("couldn't read the gateway key: %w", err)
		}
		text = string(b)
	}
	seed, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("the gateway key is not a base64url Ed25519 seed (make one with `crossledger keygen department`)")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// GatewayLimits are the gateway's request limits, defaults filled in.
func (c *Config) GatewayLimits() limits.Limits {
	l, g := limits.Default(), c.Gateway.Limits
	set := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	if g.MaxBodyBytes != 0 {
		l.MaxBodyBytes = int64(g.MaxBodyBytes)
	}
	set(&l.MaxQueryBytes, int(g.MaxQueryBytes))
	set(&l.MaxDepth, g.MaxDepth)
	set(&l.MaxFields, g.MaxFields)
	set(&l.MaxCost, g.MaxCost)
	set(&l.MaxListSize, g.MaxListSize)
	if g.QueryTimeout != 0 {
		l.QueryTimeout = g.QueryTimeout
	}
	return l
}

// GatewayRates are the gateway's rate limits, defaults filled in.
func (c *Config) GatewayRates() limits.RateConfig {
	r, g := limits.DefaultRates(), c.Gateway.Rate
	if g.PerSecond != 0 {
		r.Authenticated.PerSecond = g.PerSecond
	}
	if g.Burst != 0 {
		r.Authenticated.Burst = g.Burst
	}
	if g.AnonymousPerSecond != 0 {
		r.Anonymous.PerSecond = g.AnonymousPerSecond
	}
	if g.AnonymousBurst != 0 {
		r.Anonymous.Burst = g.AnonymousBurst
	}
	return r
}

// GatewayConfig is the gateway.Config the file describes (without the
// ledger secret, which [Config.Secret] decodes).
func (c *Config) GatewayConfig() gateway.Config {
	return gateway.Config{
		ID: c.GatewayID(), Purposes: append([]string(nil), c.Gateway.Purposes...),
		FederationTimeout: c.Gateway.FederationTimeout, MaxRecords: c.Gateway.MaxRecords,
		Limits: c.GatewayLimits(), Rate: c.GatewayRates(),
	}
}
