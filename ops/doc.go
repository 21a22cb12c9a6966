// Package ops runs crossledger's infrastructure pieces: the embedded
// Kafka-protocol broker (franz-go's kfake with its data on disk) that
// `crossledger dev`, `crossledger broker` and the tests use.
//
// Beside it:
//   - ops/config: the one YAML configuration file of `crossledger ingest`
//     and `crossledger gateway`, with file:line errors and env overrides
//     for secrets;
//   - ops/compose: the Dockerfile and config files of docker-compose.yml;
//   - ops/testenv: the scripts that install and start the real servers the
//     test suite runs against (ClickHouse, PostgreSQL, the broker, Chromium)
//     and the Go helpers tests use to find them;
//   - ops/browser: the Playwright script of the GraphiQL browser test.
//
// ops sits at the edge: it may import every other crossledger package, and
// none of them may import it. The wiring of whole processes is in
// cmd/crossledger.
package ops
