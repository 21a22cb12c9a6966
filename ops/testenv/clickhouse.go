package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ClickHouseServer is a clickhouse-server process of a test's own, for
// tests that stop the server (an outage) and must not disturb the shared
// one of [ClickHouse]. It listens on 127.0.0.1 on ports picked when it was
// created, keeps its data in a test temporary directory, and comes back on
// the same ports and data after [ClickHouseServer.Stop] and
// [ClickHouseServer.Start]. The test's cleanup kills it.
type ClickHouseServer struct {
	t        testing.TB
	bin      string // clickhouse-server
	client   string // clickhouse-client, "" when not installed
	dir      string
	tcp      int
	http     int
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	starts   int
	stderrOf string
}

// clickHouseBinaries finds clickhouse-server (Debian installs it in
// /usr/sbin, which is not always on PATH) and, optionally, clickhouse-client.
func clickHouseBinaries() (server, client string) {
	for _, p := range []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if path, err := exec.LookPath(p); err == nil {
			server = path
			break
		}
	}
	client, _ = exec.LookPath("clickhouse-client")
	return server, client
}

// StartClickHouse starts a dedicated ClickHouse server for t and waits
// until it answers. Without an installed clickhouse-server the test is
// skipped, or fails when CROSSLEDGER_REQUIRE_SERVICES=1.
func StartClickHouse(t testing.TB) *ClickHouseServer {
	t.Helper()
	bin, client := clickHouseBinaries()
	if bin == "" {
		if Required() {
			t.Fatalf("clickhouse-server is required (%s=1) but not installed: run the tests with `make test`", EnvRequire)
		}
		t.Skip("clickhouse-server not installed: run `make test`")
	}
	s := &ClickHouseServer{t: t, bin: bin, client: client, dir: t.TempDir(), tcp: freePort(t), http: freePort(t)}
	if err := s.writeConfig(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.mu.Lock()
		cmd, exited := s.cmd, s.exited
		s.mu.Unlock()
		if cmd != nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	s.Start()
	return s
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("couldn't find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeConfig writes the server and users configuration: the template of
// services.sh, on this server's directory and ports.
func (s *ClickHouseServer) writeConfig() error {
	for _, d := range []string{"data", "tmp", "user_files", "log"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/err.log</errorlog></logger>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>200</max_concurrent_queries>
</yandex>
`, s.dir, s.tcp, s.http)
	users := `<?xml version="1.0"?>
<yandex>
  <profiles><default>
    <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
    <max_memory_usage>4000000000</max_memory_usage>
  </default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`
	if err := os.WriteFile(filepath.Join(s.dir, "config.xml"), []byte(config), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "users.xml"), []byte(users), 0o644)
}

// Addr is the server's native-protocol address (host:port).
func (s *ClickHouseServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.tcp) }

// Start starts the server (again, after [ClickHouseServer.Stop]) on the
// same ports and data, and waits up to a minute for it to answer queries.
func (s *ClickHouseServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("testenv: ClickHouse server already running")
	}
	s.starts++
	s.stderrOf = filepath.Join(s.dir, "log", fmt.Sprintf("stdout.%d.log", s.starts))
	out, err := os.Create(s.stderrOf)
	if err != nil {
		s.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("testenv: couldn't start clickhouse-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := s.ping()
		if err == nil {
			return
		}
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("testenv: clickhouse-server exited at start (%v): %v\n%s", cmd.ProcessState, err, s.logs())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("testenv: clickhouse-server on %s not answering after 60s: %v\n%s", s.Addr(), err, s.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ping checks that the server answers a query (with clickhouse-client
// when installed; otherwise that its native port accepts connections).
func (s *ClickHouseServer) ping() error {
	if s.client == "" {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.client, "--host", "127.0.0.1", "--port", strconv.Itoa(s.tcp), "-q", "SELECT 1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

func (s *ClickHouseServer) logs() string {
	var b []byte
	for _, f := range []string{s.stderrOf, filepath.Join(s.dir, "log", "err.log")} {
		if c, err := os.ReadFile(f); err == nil {
			if len(c) > 4000 {
				c = c[len(c)-4000:]
			}
			b = append(b, c...)
		}
	}
	return string(b)
}

// Stop kills the server (SIGKILL: an outage, not a shutdown) and waits
// until it is gone.
func (s *ClickHouseServer) Stop() { s.stop(syscall.SIGKILL) }

// Shutdown stops the server with SIGTERM (a clean shutdown) and waits,
// killing it if it takes more than 30s.
func (s *ClickHouseServer) Shutdown() { s.stop(syscall.SIGTERM) }

func (s *ClickHouseServer) stop(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatal("testenv: ClickHouse server not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("testenv: couldn't signal clickhouse-server: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
}
