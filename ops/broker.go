package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerConfig configures the embedded Kafka-protocol broker.
type BrokerConfig struct {
	// Listen is the TCP address the broker accepts clients on and
	// advertises in metadata, e.g. "127.0.0.1:9092". Port 0 picks a free one.
	Listen string `yaml:"listen"`
	// DataDir is where the broker persists topics, segments and committed
	// group offsets; a restarted broker resumes from it. Empty keeps
	// everything in memory (tests only).
	DataDir string `yaml:"data_dir"`
	// Partitions is the default partition count for auto-created topics.
	Partitions int `yaml:"partitions"`
	// SyncWrites fsyncs every produced batch before acknowledging it. Off,
	// a crash of the broker process (not of a client) may lose the last
	// acknowledged batches, like Kafka's default flush policy; the SDK's
	// outbox re-sends anything without a verified receipt, so nothing is
	// lost end to end either way.
	SyncWrites bool `yaml:"sync_writes"`
}

// DefaultBrokerConfig is the configuration `crossledger broker` starts with.
func DefaultBrokerConfig() BrokerConfig {
	return BrokerConfig{Listen: "127.0.0.1:9092", DataDir: "data/broker", Partitions: 6}
}

// Validate reports the first thing wrong with c.
func (c BrokerConfig) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("broker listen address %q: %w", c.Listen, err)
	}
	if host == "" {
		return fmt.Errorf("broker listen address %q: needs a host (the broker advertises it to clients)", c.Listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("broker listen address %q: bad port", c.Listen)
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		return fmt.Errorf("broker partitions %d: must be in [1, 1024]", c.Partitions)
	}
	return nil
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// StartBroker starts a single-node Kafka-protocol broker (franz-go's kfake)
// listening on cfg.Listen. It speaks the Kafka wire protocol over TCP, so
// kafka-go, franz-go, kcat and the Java client all use it unchanged.
func StartBroker(cfg BrokerConfig, logger *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	_, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, _ := strconv.Atoi(portStr)
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.ClusterID("crossledger"),
		// kfake binds 127.0.0.1; honour the configured host instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, cfg.Listen)
		}),
		kfake.WithLogger(brokerLogger{logger}),
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("couldn't create broker data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("couldn't start broker on %s: %w", cfg.Listen, err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		return nil, errors.New("couldn't start broker: no listener")
	}
	return &Broker{cluster: c, addr: addrs[0]}, nil
}

// Addr is the address clients bootstrap from.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and flushes its data directory.
func (b *Broker) Close() { b.cluster.Close() }

// RunBroker runs a broker until ctx is done.
func RunBroker(ctx context.Context, cfg BrokerConfig, logger *slog.Logger) error {
	b, err := StartBroker(cfg, logger)
	if err != nil {
		return err
	}
	logger.Info("broker listening", "addr", b.Addr(), "data_dir", cfg.DataDir, "partitions", cfg.Partitions)
	<-ctx.Done()
	logger.Info("broker stopping")
	b.Close()
	return nil
}

type brokerLogger struct{ l *slog.Logger }

func (b brokerLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		b.l.Error(fmt.Sprintf(msg, args...), "component", "broker")
	case kfake.LogLevelWarn:
		b.l.Warn(fmt.Sprintf(msg, args...), "component", "broker")
	}
}
