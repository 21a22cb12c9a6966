#!/usr/bin/env bash
# services.sh — install (when absent) and start the real servers crossledger's
# tests need, on 127.0.0.1 only, each under one run directory:
#
#   ClickHouse  (Debian's clickhouse-server, 18.16 on bookworm)
#   PostgreSQL  (Debian's postgresql, wal_level=logical for CDC)
#   Kafka-protocol broker (this repo's `crossledger broker`, kfake with a data dir)
#
# and what the browser tests need: Debian's chromium, ops/browser's npm ci;
# and what the interop tests need: torchwood's litewitness, openssh-client.
#
# Usage:
#   services.sh start RUN_DIR BIN   start all three, set up the browser; writes RUN_DIR/env (shell exports)
#   services.sh stop RUN_DIR        stop what start started (by pid)
#
# Every failure is fatal: a test run must never silently go without a service.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] FATAL: %s\n' "$*" >&2; exit 1; }

apt_updated=0
apt_install() {
	if [ "$apt_updated" = 0 ]; then
		log "apt-get update"
		apt-get update -qq >/dev/null || die "apt-get update failed"
		apt_updated=1
	fi
	log "apt-get install -y $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "couldn't install $*"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port BASE: the first free port at or above BASE.
pick_port() {
	local p=$1
	while ! port_free "$p"; do p=$((p + 1)); [ "$p" -lt $(($1 + 200)) ] || die "no free port near $1"; done
	echo "$p"
}

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
	local secs=$1 what=$2; shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.3
	done
	log "$what is up"
}

start_clickhouse() {
	local dir=$1/clickhouse
	[ -x /usr/sbin/clickhouse-server ] && command -v clickhouse-client >/dev/null || apt_install clickhouse-server clickhouse-client
	# The package's init script may have started a server of its own on 9000;
	# ours uses its own config, data directory and free ports.
	local tcp http
	tcp=$(pick_port 19000)
	http=$(pick_port 18123)
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log"
	cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/err.log</errorlog></logger>
  <tcp_port>$tcp</tcp_port>
  <http_port>$http</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>200</max_concurrent_queries>
</yandex>
XML
	cat >"$dir/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
  <profiles><default>
    <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
    <max_memory_usage>4000000000</max_memory_usage>
  </default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
	log "starting ClickHouse on 127.0.0.1:$tcp (http $http)"
	/usr/sbin/clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
	echo $! >"$dir/pid"
	wait_for 60 "ClickHouse" \
		clickhouse-client --host 127.0.0.1 --port "$tcp" -q 'SELECT 1' ||
		{ tail -20 "$dir/log/err.log" "$dir/log/stdout.log" >&2 || true; die "ClickHouse did not start"; }
	log "ClickHouse version: $(clickhouse-client --host 127.0.0.1 --port "$tcp" -q 'SELECT version()')"
	echo "export CROSSLEDGER_TEST_CLICKHOUSE=127.0.0.1:$tcp" >>"$1/env"
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

start_postgres() {
	local dir=$1/postgres bindir port
	bindir=$(pg_bindir)
	[ -n "$bindir" ] && [ -x "$bindir/initdb" ] || { apt_install postgresql; bindir=$(pg_bindir); }
	[ -x "$bindir/initdb" ] || die "PostgreSQL's initdb not found after install"
	port=$(pick_port 15432)
	mkdir -p "$dir"
	chown postgres: "$dir"
	# PostgreSQL refuses to run as root; it runs as the package's postgres user.
	run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
	run_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	log "starting PostgreSQL on 127.0.0.1:$port (wal_level=logical)"
	run_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 -c fsync=off" >/dev/null ||
		{ tail -20 "$dir/server.log" >&2; die "PostgreSQL did not start"; }
	head -1 "$dir/data/postmaster.pid" >"$dir/pid"
	echo "$bindir" >"$dir/bindir"
	wait_for 30 "PostgreSQL" "$bindir/pg_isready" -h 127.0.0.1 -p "$port" || die "PostgreSQL not ready"
	echo "export CROSSLEDGER_TEST_POSTGRES='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'" >>"$1/env"
}

start_broker() {
	local dir=$1/broker bin=$2 port
	port=$(pick_port 19092)
	mkdir -p "$dir"
	log "starting crossledger broker on 127.0.0.1:$port"
	"$bin" broker --listen "127.0.0.1:$port" --data-dir "$dir/data" >"$dir/broker.log" 2>&1 &
	echo $! >"$dir/pid"
	wait_for 30 "Kafka-protocol broker" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" ||
		{ cat "$dir/broker.log" >&2; die "broker did not start"; }
	echo "export CROSSLEDGER_TEST_KAFKA=127.0.0.1:$port" >>"$1/env"
}

# setup_browser RUN_DIR: what the browser tests need (ops/browser_test.go,
# gateway/graphiql/page_test.go): Debian's Chromium at /usr/bin/chromium,
# Node.js >= 20 and ops/browser's node_modules (playwright-core, exact
# version from package-lock.json, from the npm registry; it downloads no
# browser). Not a server: nothing to stop.
setup_browser() {
	[ -x /usr/bin/chromium ] || apt_install chromium
	[ -x /usr/bin/chromium ] || die "/usr/bin/chromium not found after installing chromium"
	log "browser: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
	command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
	local major
	major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || die "node does not run"
	[ "$major" -ge 20 ] || die "node $(node --version) is too old for playwright-core: need >= 20"
	local dir
	dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../browser" && pwd) || die "ops/browser not found beside ops/testenv"
	log "npm ci in $dir (node $(node --version), npm $(npm --version 2>/dev/null))"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$1/npm-ci.log" 2>&1) ||
		{ cat "$1/npm-ci.log" >&2; die "npm ci in ops/browser failed"; }
	[ -f "$dir/node_modules/playwright-core/package.json" ] || die "playwright-core missing after npm ci"
	echo "export CROSSLEDGER_TEST_ARTIFACTS=$1/artifacts" >>"$1/env"
	mkdir -p "$1/artifacts"
}

# setup_interop RUN_DIR: the independent implementations the interop tests
# run against. torchwood's litewitness and witnessctl (a C2SP tlog-witness
# nobody here wrote), built with `go install` at a pinned version, and
# Debian's openssh-client, whose ssh-agent holds litewitness's key. Not a
# server: each test starts its own litewitness.
TORCHWOOD_VERSION=v0.6.1
setup_interop() {
	command -v ssh-agent >/dev/null && command -v ssh-add >/dev/null && command -v ssh-keygen >/dev/null ||
		apt_install openssh-client
	local bindir=$1/bin
	mkdir -p "$bindir"
	log "go install filippo.io/torchwood/cmd/{litewitness,witnessctl}@$TORCHWOOD_VERSION"
	GOBIN=$bindir GOFLAGS= go install "filippo.io/torchwood/cmd/litewitness@$TORCHWOOD_VERSION" \
		"filippo.io/torchwood/cmd/witnessctl@$TORCHWOOD_VERSION" >"$1/torchwood-install.log" 2>&1 ||
		{ cat "$1/torchwood-install.log" >&2; die "couldn't install litewitness $TORCHWOOD_VERSION"; }
	[ -x "$bindir/litewitness" ] && [ -x "$bindir/witnessctl" ] || die "litewitness or witnessctl missing after go install"
	echo "export CROSSLEDGER_TEST_LITEWITNESS=$bindir/litewitness" >>"$1/env"
	echo "export CROSSLEDGER_TEST_WITNESSCTL=$bindir/witnessctl" >>"$1/env"
}

stop_all() {
	local run=$1
	if [ -f "$run/postgres/pid" ]; then
		log "stopping PostgreSQL"
		runuser -u postgres -- "$(cat "$run/postgres/bindir")/pg_ctl" -D "$run/postgres/data" -m fast -w stop >/dev/null 2>&1 ||
			kill "$(cat "$run/postgres/pid")" 2>/dev/null || true
	fi
	for svc in broker clickhouse; do
		if [ -f "$run/$svc/pid" ]; then
			local pid
			pid=$(cat "$run/$svc/pid")
			log "stopping $svc (pid $pid)"
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
}

case "${1:-}" in
start)
	run=${2:?run dir}; bin=${3:?crossledger binary}
	mkdir -p "$run"; : >"$run/env"
	# PostgreSQL runs as the postgres user and must reach its directory below.
	chmod 755 "$run"
	[ "$(id -u)" = 0 ] || log "not root: installs may fail; install clickhouse-server, clickhouse-client, postgresql by hand"
	start_clickhouse "$run"
	start_postgres "$run"
	start_broker "$run" "$bin"
	setup_browser "$run"
	setup_interop "$run"
	echo "export CROSSLEDGER_REQUIRE_SERVICES=1" >>"$run/env"
	;;
stop) stop_all "${2:?run dir}" ;;
*) die "usage: services.sh start RUN_DIR BIN | stop RUN_DIR" ;;
esac
