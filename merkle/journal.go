package merkle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const (
	journalPath  = "journal"
	journalTemp  = "journal.tmp"
	journalMagic = "crossledger/merkle journal v1\n"

	kindBase   = 'B'
	kindAppend = 'A'

	recordHeader = 8 // u32 body length, u32 CRC-32C of body
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalRecord is one commit. A base record (the first in a journal) has no
// entries and carries the compact range of the tree at its size; an append
// record carries the batch.
type journalRecord struct {
	kind       byte
	first      uint64 // tree size before the record
	entries    [][]byte
	state      []byte
	checkpoint []byte   // signed note at first+len(entries)
	rangeHash  [][]byte // base only: compact range hashes of [0, first)
}

func (r *journalRecord) end() uint64 { return r.first + uint64(len(r.entries)) }

// appendJournalRecord encodes r onto dst.
func appendJournalRecord(dst []byte, r *journalRecord) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeader)...)
	dst = append(dst, r.kind)
	dst = binary.BigEndian.AppendUint64(dst, r.first)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.entries)))
	for _, e := range r.entries {
		dst = appendBundleEntry(dst, e)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.state)))
	dst = append(dst, r.state...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.checkpoint)))
	dst = append(dst, r.checkpoint...)
	dst = append(dst, byte(len(r.rangeHash)))
	for _, h := range r.rangeHash {
		dst = append(dst, h...)
	}
	body := dst[start+recordHeader:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

var errShort = errors.New("short record")

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errShort
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}
func (r *reader) u8() byte {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}
func (r *reader) u16() int {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}
func (r *reader) u32() int {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint32(b))
}
func (r *reader) u64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func decodeJournalBody(body []byte) (*journalRecord, error) {
	r := &reader{b: body}
	rec := &journalRecord{kind: r.u8(), first: r.u64()}
	n := r.u32()
	if n > len(body) {
		return nil, fmt.Errorf("entry count %d exceeds record", n)
	}
	rec.entries = make([][]byte, 0, n)
	for range n {
		rec.entries = append(rec.entries, r.take(r.u16()))
	}
	rec.state = r.take(r.u32())
	rec.checkpoint = r.take(r.u32())
	nh := int(r.u8())
	for range nh {
		rec.rangeHash = append(rec.rangeHash, r.take(HashSize))
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b))
	}
	switch {
	case rec.kind == kindBase && len(rec.entries) == 0:
	case rec.kind == kindAppend && len(rec.rangeHash) == 0:
	default:
		return nil, fmt.Errorf("bad record kind %q", rec.kind)
	}
	return rec, nil
}

// decodeJournal returns the records of a journal and the length of its valid
// prefix. Decoding stops at the first record that is torn or fails its
// checksum: that is the tail of an interrupted write, never acknowledged.
// It fails only when the journal has no valid header and base record.
func decodeJournal(data []byte) (recs []*journalRecord, valid int, tailErr error, err error) {
	if len(data) < len(journalMagic) || string(data[:len(journalMagic)]) != journalMagic {
		return nil, 0, nil, &CorruptError{Path: journalPath, Err: errors.New("missing journal header")}
	}
	off := len(journalMagic)
	for off < len(data) {
		rest := data[off:]
		if len(rest) < recordHeader {
			tailErr = fmt.Errorf("torn record header at offset %d", off)
			break
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n > len(rest)-recordHeader {
			tailErr = fmt.Errorf("torn record at offset %d: %d bytes announced, %d present", off, n, len(rest)-recordHeader)
			break
		}
		body := rest[recordHeader : recordHeader+n]
		last := recordHeader+n == len(rest)
		var rec *journalRecord
		derr := errors.New("checksum mismatch")
		if crc32.Checksum(body, castagnoli) == binary.BigEndian.Uint32(rest[4:]) {
			rec, derr = decodeJournalBody(body)
		}
		if derr != nil {
			// A bad last record is an interrupted write; a bad record with
			// more records behind it is damage to acknowledged data.
			if !last {
				return nil, 0, nil, &CorruptError{Path: journalPath, Err: fmt.Errorf("record at offset %d: %w (and %d bytes follow)", off, derr, len(rest)-recordHeader-n)}
			}
			tailErr = fmt.Errorf("record at offset %d: %w", off, derr)
			break
		}
		if len(recs) == 0 && rec.kind != kindBase {
			return nil, 0, nil, &CorruptError{Path: journalPath, Err: errors.New("first record is not a base record")}
		}
		if len(recs) > 0 && (rec.kind != kindAppend || rec.first != recs[len(recs)-1].end()) {
			tailErr = fmt.Errorf("record at offset %d starts at %d, want %d", off, rec.first, recs[len(recs)-1].end())
			break
		}
		recs = append(recs, rec)
		off += recordHeader + n
	}
	if len(recs) == 0 {
		return nil, 0, nil, &CorruptError{Path: journalPath, Err: fmt.Errorf("no valid base record: %v", tailErr)}
	}
	return recs, off, tailErr, nil
}
