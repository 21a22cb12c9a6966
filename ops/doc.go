// Package ops runs crossledger's components as processes: the embedded
// Kafka-protocol broker, configuration loading (one YAML file plus env
// overrides), structured logging, metrics, health endpoints, and the wiring
// that `crossledger dev` uses to start everything in one process.
//
// ops sits at the edge: it may import every other crossledger package, and
// none of them may import it. Domain rules live in schema/, proofs in
// merkle/, storage in store/; ops only starts, configures and stops them.
//
// ops/testenv holds the script that installs and starts the real servers the
// test suite runs against (ClickHouse, PostgreSQL, the broker).
package ops
