package config_test

import (
	"os"
	"testing"

	"github.com/crossledger/crossledger/ops/config"
)

// TestComposeConfigs: the files docker-compose.yml mounts load strictly,
// and ingest's validates for `crossledger ingest` (the gateway's reads the
// log key that the compose keys service makes, so it is checked up to
// that).
func TestComposeConfigs(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == config.EnvLedgerSecret {
			return "6c65646765722d7365637265742d6368616e67652d6d65", true
		}
		return "", false
	}
	for _, name := range []string{"../compose/ingest.yaml", "../compose/gateway.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Parse(name, data, env)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "../compose/ingest.yaml" {
			if err := c.ValidateIngest(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		} else if c.Gateway.LogURL == "" || len(c.Gateway.Issuers) != 1 || c.GatewayListen() != "0.0.0.0:8081" {
			t.Fatalf("%s: gateway section not read: %+v", name, c.Gateway)
		}
	}
}
