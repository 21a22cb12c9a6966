package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/crossledger/crossledger/merkle/witness"
)

// EnvWitnessKey overrides witness.key_file with the key itself.
const EnvWitnessKey = "CROSSLEDGER_WITNESS_KEY"

// DefaultWitnessListen is the default address of `crossledger witness`.
const DefaultWitnessListen = "127.0.0.1:7380"

// Witness configures `crossledger witness`, a department's C2SP
// tlog-witness: its key, its state and the logs it cosigns. It also uses
// the metrics section (/metrics, /healthz, /readyz).
//
//	witness:
//	  listen: 0.0.0.0:7380
//	  key_file: /etc/crossledger/witness.key   # or $CROSSLEDGER_WITNESS_KEY
//	  state_dir: /var/lib/crossledger/witness
//	  logs:
//	    - origin: haidian.example/crossledger
//	      keys: [haidian.example/crossledger+1a2b3c4d+AbC…]
type Witness struct {
	// Listen is the HTTP address of POST /add-checkpoint and GET
	// /<origin hash>/checkpoint. Default 127.0.0.1:7380.
	Listen string `yaml:"listen"`
	// KeyFile holds the witness's signer key as `crossledger keygen
	// witness` writes it. $CROSSLEDGER_WITNESS_KEY (the key itself) wins.
	// Required.
	KeyFile string `yaml:"key_file"`
	// StateDir keeps, per log, the latest checkpoint cosigned. Never
	// delete it: a witness that forgets can be made to cosign a fork.
	// Required.
	StateDir string `yaml:"state_dir"`
	// Logs are the logs this witness cosigns, each with the verifier keys
	// its checkpoints may be signed with (named by the origin). At least
	// one.
	Logs []WitnessedLog `yaml:"logs"`

	key string // from the environment
}

// WitnessedLog is one log a witness cosigns.
type WitnessedLog struct {
	Origin string     `yaml:"origin"`
	Keys   StringList `yaml:"keys"`
}

// WitnessKey returns the witness signer key: $CROSSLEDGER_WITNESS_KEY, or
// the contents of witness.key_file.
func (c *Config) WitnessKey() (string, error) {
	return c.key(c.Witness.key, c.Witness.KeyFile, "witness.key_file", EnvWitnessKey, "witness")
}

// ValidateWitness checks that c has everything `crossledger witness` needs.
func (c *Config) ValidateWitness() error {
	w := c.Witness
	switch {
	case w.KeyFile == "" && w.key == "":
		return c.errorf("witness.key_file", "is required (or set $%s to the key)", EnvWitnessKey)
	case w.StateDir == "":
		return c.errorf("witness.state_dir", "is required")
	case len(w.Logs) == 0:
		return c.errorf("witness.logs", "name at least one log to cosign")
	}
	for i, l := range w.Logs {
		if l.Origin == "" {
			return c.errorf(fmt.Sprintf("witness.logs.%d.origin", i), "is required")
		}
		if len(l.Keys) == 0 {
			return c.errorf(fmt.Sprintf("witness.logs.%d.keys", i), "give the log's verifier key")
		}
	}
	if _, err := witness.LogVerifiers(c.WitnessLogs()); err != nil {
		return c.errorf("witness.logs", "%v", strings.TrimPrefix(err.Error(), "witness: "))
	}
	return nil
}

// WitnessLogs are the witness's logs as the witness package takes them.
func (c *Config) WitnessLogs() []witness.LogConfig {
	var out []witness.LogConfig
	for _, l := range c.Witness.Logs {
		out = append(out, witness.LogConfig{Origin: l.Origin, VKeys: append([]string(nil), l.Keys...)})
	}
	return out
}

// WitnessPolicy reads log.witness_policy: the C2SP tlog-policy whose
// quorum must cosign each checkpoint before the log publishes it (nil
// when unset: the log alone vouches for its checkpoints).
func (c *Config) WitnessPolicy() (*witness.Policy, error) {
	p, err := c.policy("log.witness_policy", c.Log.WitnessPolicy)
	if p == nil || err != nil {
		return nil, err
	}
	if _, err := witness.NewCosigner(p, nil, 0, nil); err != nil { // the log must reach its witnesses
		return nil, c.errorf("log.witness_policy", "%s: %v", c.Log.WitnessPolicy, err)
	}
	return p, nil
}

// policy reads the C2SP tlog-policy file of a config field (nil, nil
// when the field is unset).
func (c *Config) policy(field, file string) (*witness.Policy, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, c.errorf(field, "%v", err)
	}
	p, err := witness.ParsePolicy(b)
	if err != nil {
		return nil, c.errorf(field, "%s: %v", file, err)
	}
	return p, nil
}

// GatewayWitnessPolicy reads gateway.witness_policy (nil when unset).
func (c *Config) GatewayWitnessPolicy() (*witness.Policy, error) {
	return c.policy("gateway.witness_policy", c.Gateway.WitnessPolicy)
}

// checkWitnessTimeout checks log.witness_timeout.
func (c *Config) checkWitnessTimeout() error {
	if c.Log.WitnessTimeout < 0 || c.Log.WitnessTimeout > 5*time.Minute {
		return c.errorf("log.witness_timeout", "must be in [0, 5m], got %v", c.Log.WitnessTimeout)
	}
	return nil
}
