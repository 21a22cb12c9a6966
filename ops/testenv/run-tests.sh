#!/usr/bin/env bash
# run-tests.sh — what `make test` runs: build the binary, install and start
# the real services (services.sh), run go vet and the whole race-enabled test
# suite against them, and stop the services whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUN_DIR=${CROSSLEDGER_RUN_DIR:-$(mktemp -d /tmp/crossledger-test.XXXXXX)}
BIN=$RUN_DIR/crossledger
# The browser acceptance test (ops/browser_test.go) runs this binary's `dev`.
export CROSSLEDGER_BIN=$BIN
export GOFLAGS=${GOFLAGS:-}

cleanup() {
	local rc=$?
	bash ops/testenv/services.sh stop "$RUN_DIR" || true
	if [ "$rc" = 0 ]; then rm -rf "$RUN_DIR"; else echo "[test] logs kept in $RUN_DIR" >&2; fi
	exit "$rc"
}
trap cleanup EXIT INT TERM

echo "[test] go $(go env GOVERSION), $(nproc) cores; run dir $RUN_DIR"
mkdir -p "$RUN_DIR"
go build -o "$BIN" ./cmd/crossledger
bash ops/testenv/services.sh start "$RUN_DIR" "$BIN"
# shellcheck disable=SC1091
source "$RUN_DIR/env"
echo "[test] services: ClickHouse $CROSSLEDGER_TEST_CLICKHOUSE, PostgreSQL $CROSSLEDGER_TEST_POSTGRES, Kafka $CROSSLEDGER_TEST_KAFKA"

echo "[test] smoke tests: each service really used (a skip here is a failure)"
go test -count=1 -v -run 'TestSmoke' ./ops/ 2>&1 | tee "$RUN_DIR/smoke.log"
if grep -q -- '--- SKIP' "$RUN_DIR/smoke.log" || [ "$(grep -c -- '--- PASS: TestSmoke' "$RUN_DIR/smoke.log")" -lt 3 ]; then
	echo "[test] FATAL: a smoke test did not run and pass" >&2
	exit 1
fi

echo "[test] browser smoke: GraphiQL's page in Debian's headless Chromium (Playwright)"
go test -count=1 -v -run '^TestPageInBrowser$' ./gateway/graphiql/ 2>&1 | tee "$RUN_DIR/browser-smoke.log"
if ! grep -q -- '--- PASS: TestPageInBrowser' "$RUN_DIR/browser-smoke.log"; then
	echo "[test] FATAL: the browser smoke test did not run and pass" >&2
	exit 1
fi

echo "[test] go vet ./..."
go vet ./...
echo "[test] go test -race ./..."
# Under the race detector the ClickHouse acceptance run publishes 5 000
# changes (100 000 would take over 30 minutes on 2 cores); the full
# 100 000 runs below without it.
CROSSLEDGER_CH_E2E_CHANGES=${CROSSLEDGER_CH_E2E_RACE_CHANGES:-5000} CROSSLEDGER_AUDIT_ENTRIES=10000 \
	go test -race -timeout 40m -count=1 ${CROSSLEDGER_TEST_FLAGS:-} ./...
echo "[test] the ingest acceptance run at full size: 100 000 changes, real broker and ClickHouse"
CROSSLEDGER_CH_E2E_CHANGES=${CROSSLEDGER_CH_E2E_CHANGES:-100000} \
	go test -timeout 30m -count=1 -v -run '^TestClickHouseEndToEnd$' ./ingest/ 2>&1 | tee "$RUN_DIR/ch-e2e.log" | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|ingest_test|e2e_test' || true
grep -q -- '--- PASS: TestClickHouseEndToEnd' "$RUN_DIR/ch-e2e.log" || { tail -40 "$RUN_DIR/ch-e2e.log" >&2; echo "[test] FATAL: the 100 000-change ClickHouse run did not pass (log: $RUN_DIR/ch-e2e.log)" >&2; exit 1; }
echo "[test] the full audit at acceptance size: 100 000 entries served over HTTP"
CROSSLEDGER_AUDIT_ENTRIES=100000 go test -count=1 -v -run '^TestFullAudit$' ./ops/audit/ 2>&1 | tee "$RUN_DIR/audit-full.log" | grep -E '^(--- |ok|FAIL)|full_test' || true
grep -q -- '--- PASS: TestFullAudit' "$RUN_DIR/audit-full.log" || { tail -40 "$RUN_DIR/audit-full.log" >&2; echo "[test] FATAL: the 100 000-entry audit did not pass" >&2; exit 1; }
