// Package litewitness runs torchwood's litewitness for tests: its key in a
// dedicated ssh-agent, its database made with witnessctl, configured to
// witness one log. The binaries come from [testenv.Litewitness], so a test
// that calls [Start] is skipped (or, under CROSSLEDGER_REQUIRE_SERVICES=1,
// fails) when they are not available.
//
// Only tests import this package.
package litewitness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/ops/testenv"
)

// DefaultName is the witness name [Start] gives litewitness.
const DefaultName = "lw.example/witness"

// Witness is a running litewitness. It is killed at the latest when the
// test ends.
type Witness struct {
	// URL is its submission prefix ("http://127.0.0.1:port"): requests go
	// to URL+"/add-checkpoint".
	URL string
	// Addr is the host:port it listens on.
	Addr string
	// Name is its witness name, VKey the cosignature/v1 verifier key it
	// logged as it started, and PublicKey the Ed25519 key of its ssh key.
	Name      string
	VKey      string
	PublicKey ed25519.PublicKey
	// DB is its database, Origin the log it witnesses.
	DB     string
	Origin string

	t                 testing.TB
	bin, ctl          string
	sock, fingerprint string
	proc              *process
}

// Start runs a litewitness named [DefaultName] that witnesses the log
// origin, whose checkpoints are signed by logVKey (a note verifier key).
func Start(t testing.TB, origin, logVKey string) *Witness {
	t.Helper()
	return StartNamed(t, DefaultName, origin, logVKey)
}

// StartNamed is [Start] with the witness name name.
func StartNamed(t testing.TB, name, origin, logVKey string) *Witness {
	t.Helper()
	lwBin, ctlBin := testenv.Litewitness(t)
	agentBin, keygenBin, addBin := needTool(t, "ssh-agent"), needTool(t, "ssh-keygen"), needTool(t, "ssh-add")
	dir := t.TempDir()

	sock := startSSHAgent(t, agentBin, dir)
	keyFile := filepath.Join(dir, "witness_key")
	runTool(t, nil, keygenBin, "-q", "-t", "ed25519", "-N", "", "-C", "litewitness-interop", "-f", keyFile)
	runTool(t, []string{"SSH_AUTH_SOCK=" + sock}, addBin, keyFile)
	fp := strings.Fields(runTool(t, nil, keygenBin, "-l", "-E", "sha256", "-f", keyFile+".pub"))
	if len(fp) < 2 || !strings.HasPrefix(fp[1], "SHA256:") {
		t.Fatalf("ssh-keygen -l printed %q", fp)
	}

	db := filepath.Join(dir, "litewitness.db")
	runTool(t, nil, ctlBin, "add-log", "-db", db, "-origin", origin)
	runTool(t, nil, ctlBin, "add-key", "-db", db, "-origin", origin, "-key", logVKey)

	addr := freeAddr(t)
	w := &Witness{
		URL: "http://" + addr, Addr: addr, Name: name, PublicKey: sshEd25519Key(t, keyFile+".pub"),
		DB: db, Origin: origin,
		t: t, bin: lwBin, ctl: ctlBin, sock: sock, fingerprint: fp[1],
	}
	w.start()
	w.VKey = w.LoggedVKey()
	return w
}

func (w *Witness) start() {
	w.t.Helper()
	w.proc = startLitewitness(w.t, w.bin, w.Addr, w.DB, w.sock, w.fingerprint, w.Name)
}

// Stop kills litewitness (no chance to clean up: a crash) and waits.
func (w *Witness) Stop() { w.proc.stop() }

// Restart kills litewitness and starts it again on the same address,
// database and key. VKey is left as it was: compare it with [LoggedVKey].
func (w *Witness) Restart() {
	w.t.Helper()
	w.proc.stop()
	w.start()
}

// Output is what the running litewitness has written so far.
func (w *Witness) Output() string { return w.proc.out.String() }

// LoggedVKey is the verifier key the running litewitness logged as it
// started.
func (w *Witness) LoggedVKey() string {
	w.t.Helper()
	return loggedVKey(w.t, w.proc)
}

// Log is a line of `witnessctl list-logs`.
type Log struct {
	Origin   string   `json:"origin"`
	Size     uint64   `json:"size"`
	RootHash string   `json:"root_hash"` // base64
	Keys     []string `json:"keys"`
}

// State is litewitness's record of the log it witnesses, read from its
// database with witnessctl.
func (w *Witness) State() Log {
	w.t.Helper()
	return litewitnessState(w.t, w.ctl, w.DB, w.Origin)
}

// sshEd25519Key reads an OpenSSH "ssh-ed25519 <base64 blob> comment" public
// key file: the blob is string "ssh-ed25519", string key (RFC 4253).
func sshEd25519Key(t testing.TB, path string) ed25519.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 || f[0] != "ssh-ed25519" {
		t.Fatalf("%s: not an ssh-ed25519 key: %q", path, b)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatal(err)
	}
	var fields [][]byte
	for len(blob) >= 4 {
		n := binary.BigEndian.Uint32(blob)
		if uint64(n) > uint64(len(blob)-4) {
			break
		}
		fields, blob = append(fields, blob[4:4+n]), blob[4+n:]
	}
	if len(fields) != 2 || string(fields[0]) != "ssh-ed25519" || len(fields[1]) != ed25519.PublicKeySize || len(blob) != 0 {
		t.Fatalf("%s: malformed ssh-ed25519 blob", path)
	}
	return ed25519.PublicKey(fields[1])
}

func litewitnessState(t testing.TB, ctl, db, origin string) Log {
	t.Helper()
	out := runTool(t, nil, ctl, "list-logs", "-db", db)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l Log
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("witnessctl list-logs line %q: %v", line, err)
		}
		if l.Origin == origin {
			return l
		}
	}
	t.Fatalf("witnessctl list-logs has no %q: %q", origin, out)
	return Log{}
}

func startLitewitness(t testing.TB, bin, addr, db, sock, fingerprint, name string) *process {
	t.Helper()
	c := startProcess(t, "litewitness", nil, bin, "-listen", addr, "-db", db, "-ssh-agent", sock, "-key", fingerprint, "-name", name)
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c.exited() {
			t.Fatalf("litewitness exited:\n%s", c.out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("litewitness not answering on %s:\n%s", addr, c.out)
		}
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return c
		}
	}
}

var vkeyLine = regexp.MustCompile(`msg="verifier key" vkey=("?)(\S+?)("?)(\s|$)`)

// loggedVKey is the verifier key litewitness logs as it starts.
func loggedVKey(t testing.TB, c *process) string {
	t.Helper()
	m := vkeyLine.FindStringSubmatch(c.out.String())
	if m == nil {
		t.Fatalf("litewitness logged no verifier key:\n%s", c.out)
	}
	return m[2]
}

func startSSHAgent(t testing.TB, bin, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "agent.sock")
	if len(sock) > 100 { // sun_path's limit
		d, err := os.MkdirTemp("", "lw")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		sock = filepath.Join(d, "agent.sock")
	}
	c := startProcess(t, "ssh-agent", nil, bin, "-D", "-a", sock)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if c.exited() || time.Now().After(deadline) {
			t.Fatalf("ssh-agent did not open %s:\n%s", sock, c.out)
		}
	}
}

// freeAddr is a 127.0.0.1 address nothing listened on a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if testenv.Required() {
		t.Fatalf("%s is required (%s=1): %v", name, testenv.EnvRequire, err)
	}
	t.Skipf("%s not available: %v", name, err)
	return ""
}

// runTool runs a command to completion and returns its standard output.
func runTool(t testing.TB, env []string, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// process is a process the test started; it is killed at the latest when
// the test ends.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

func startProcess(t testing.TB, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	c := &process{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("couldn't start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("%s (pid %d) output:\n%s", name, cmd.Process.Pid, c.out)
		}
	})
	return c
}

// stop kills the process (no chance to clean up: a crash) and waits.
func (c *process) stop() {
	c.cmd.Process.Kill()
	<-c.done
}

func (c *process) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
