// Package keyfile reads and writes the small secret files the commands
// keep: signer keys, department seeds, the ledger secret. A new file is
// written so that a crash leaves it absent or whole, never empty or
// half-written (see internal/atomicfile); one that exists is never
// overwritten.
package keyfile

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/crossledger/crossledger/internal/atomicfile"
)

// WriteNew writes a key or secret file that must not exist yet. A file
// that exists yields an error matching fs.ErrExist.
func WriteNew(name string, data []byte, perm os.FileMode) error {
	err := atomicfile.CreateNew(name, perm, func(w io.Writer) error {
		if Fault != nil {
			Fault(name, "created")
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		if Fault != nil {
			Fault(name, "written")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("couldn't create key file: %w", err)
	}
	return nil
}

// Fault, set only by tests, is called while WriteNew writes name: at
// "created", its temporary file exists and is empty; at "written", it
// holds the data, not yet synced nor named. The crash tests kill the
// process there.
var Fault func(name, stage string)

// Read reads a key file, without surrounding white space.
func Read(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("couldn't read key file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// BadSecretError is a ledger secret file that holds no usable secret.
type BadSecretError struct{ Name, Problem string }

func (e *BadSecretError) Error() string { return "ledger secret " + e.Name + " " + e.Problem }

// ReadSecret reads a hex ledger secret of at least 16 bytes; a file that
// holds none is a [*BadSecretError].
func ReadSecret(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("couldn't read ledger secret: %w", err)
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return nil, &BadSecretError{name, "is empty"}
	}
	s, err := hex.DecodeString(text)
	if err != nil || len(s) < 16 {
		return nil, &BadSecretError{name, "is truncated or damaged: not ≥ 16 hex bytes"}
	}
	return s, nil
}
