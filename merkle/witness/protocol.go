package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// MaxRequestSize bounds an add-checkpoint body: 63 proof lines of 45 bytes,
// the old size line and a checkpoint with room for many signatures.
const MaxRequestSize = 16 << 10

// maxProofLines is tlog-witness's limit on consistency proof lines.
const maxProofLines = 63

// ContentTypeSize is the media type of a 409 answer's body.
const ContentTypeSize = "text/x.tlog.size"

// AddCheckpoint is a tlog-witness add-checkpoint request.
type AddCheckpoint struct {
	OldSize    uint64
	Proof      [][]byte // consistency proof from OldSize to the checkpoint's size
	Checkpoint []byte   // a signed note
}

// ParseAddCheckpoint decodes an add-checkpoint request body:
//
//	old <size>\n
//	<base64 hash>\n   (0 to 63 lines)
//	\n
//	<checkpoint>
func ParseAddCheckpoint(body []byte) (AddCheckpoint, error) {
	var req AddCheckpoint
	if len(body) > MaxRequestSize {
		return req, fmt.Errorf("request larger than %d bytes", MaxRequestSize)
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return req, errors.New("no old size line")
	}
	size, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return req, errors.New(`first line must be "old <size>"`)
	}
	n, err := decimal(size)
	if err != nil {
		return req, fmt.Errorf("old size: %w", err)
	}
	req.OldSize = n
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return req, errors.New("no empty line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(req.Proof) == maxProofLines {
			return req, fmt.Errorf("more than %d proof lines", maxProofLines)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != 32 {
			return req, fmt.Errorf("proof line %d is not a base64 SHA-256 hash", len(req.Proof)+1)
		}
		req.Proof = append(req.Proof, h)
	}
	if len(rest) == 0 {
		return req, errors.New("no checkpoint")
	}
	req.Checkpoint = rest
	return req, nil
}

// Encode is the request body.
func (r AddCheckpoint) Encode() []byte {
	var b bytes.Buffer
	b.WriteString("old ")
	b.WriteString(strconv.FormatUint(r.OldSize, 10))
	b.WriteByte('\n')
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// decimal parses an ASCII decimal with no leading zeroes ("0" for zero).
func decimal(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 20 || len(b) > 1 && b[0] == '0' {
		return 0, fmt.Errorf("%q is not a decimal without leading zeroes", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal without leading zeroes", b)
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", b)
	}
	return n, nil
}

// ParseSize decodes a 409 answer body: a decimal and a newline.
func ParseSize(body []byte) (uint64, error) {
	b, ok := bytes.CutSuffix(body, []byte("\n"))
	if !ok {
		return 0, errors.New("size answer does not end in a newline")
	}
	return decimal(b)
}
