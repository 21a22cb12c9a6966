package gateway

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// cursors seals the positions of records() pages so that a cursor is
// opaque to its caller: AES-256-GCM under a key derived from the ledger
// secret, with the connection it belongs to (consumer department,
// department, record type, subject) as associated data. A cursor is
//
//	base64url( nonce (12 bytes) ‖ AES-GCM(position) )
//
// so it reveals nothing of the position (a record key, which may be a
// citizen id), cannot be forged or edited, and is refused by any other
// connection. Positions stay valid across restarts and replicas that share
// the ledger secret.
type cursors struct{ aead cipher.AEAD }

// maxCursor bounds a cursor's text before it is decoded.
const maxCursor = 2048

var errBadCursor = errors.New("after is not a cursor from this connection")

func newCursors(ledgerSecret []byte) (*cursors, error) {
	mac := hmac.New(sha256.New, ledgerSecret)
	mac.Write([]byte("crossledger gateway cursor key v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &cursors{aead: aead}, nil
}

// seal returns the cursor of position within connection conn.
func (c *cursors) seal(conn, position string) string {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(position)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("gateway: no randomness for a cursor: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(c.aead.Seal(nonce, nonce, []byte(position), []byte(conn)))
}

// open returns the position a cursor of connection conn holds.
func (c *cursors) open(conn, cursor string) (string, error) {
	if len(cursor) > maxCursor {
		return "", errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < c.aead.NonceSize()+c.aead.Overhead() {
		return "", errBadCursor
	}
	n := c.aead.NonceSize()
	pos, err := c.aead.Open(nil, raw[:n], raw[n:], []byte(conn))
	if err != nil {
		return "", errBadCursor
	}
	return string(pos), nil
}

// connectionID names a records() connection for its cursors.
func connectionID(consumer, department, recordType, subject string) string {
	return "records\x00" + consumer + "\x00" + department + "\x00" + recordType + "\x00" + subject
}
