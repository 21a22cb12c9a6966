package adapters

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/crossledger/crossledger/schema"
)

// Client is a department's connection to the ledger for record changes:
// a [Publisher] (whose methods it has: PublishEnvelope, Status, Pending,
// Run, Close) plus what building a record change needs — the catalog of
// the department's record types and the record secret. Publish and
// PublishBatch may be called concurrently with each other and with
// PublishEnvelope; they share the publisher's seqs, outbox and group
// commit.
type Client struct {
	*Publisher
	secret  []byte
	catalog *schema.Catalog
}

// Open opens the client's [Publisher] (see [OpenPublisher]) with the
// publisher part of cfg.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	pc := cfg.publisher()
	pc.setDefaults()
	if err := cfg.validate(&pc); err != nil {
		return nil, err
	}
	p, err := OpenPublisher(ctx, pc)
	if err != nil {
		return nil, err
	}
	return &Client{Publisher: p, secret: cfg.RecordSecret, catalog: cfg.Catalog}, nil
}

// Change is one record change for [Client.PublishBatch], as the arguments
// of [Client.Publish].
type Change struct {
	RecordType string
	Op         schema.Op
	Values     map[string]string
}

// Publish records a change of one record: it validates values against the
// latest version of recordType, commits to each field, derives the record
// reference from the key fields, assigns the next seq, signs, stores the
// message in the outbox (seq and row in one transaction) and sends it.
// For a delete, values holds just the key fields. It returns the seq. An
// error matching [ErrQueued] means the message is durable but not sent
// yet; any other error means nothing was stored.
func (c *Client) Publish(ctx context.Context, recordType string, op schema.Op, values map[string]string) (uint64, error) {
	it, err := c.build(Change{RecordType: recordType, Op: op, Values: values})
	if err != nil {
		return 0, err
	}
	return one(c.submit(ctx, []pubItem{it}))
}

// PublishBatch publishes changes as [Client.Publish] does, atomically:
// they get consecutive seqs, in order, and are stored in one transaction
// and sent in one write. It returns their seqs. An error matching
// [ErrQueued] means all are durable but not all were sent; any other
// error means none was stored (an invalid change is named by its index).
func (c *Client) PublishBatch(ctx context.Context, changes []Change) ([]uint64, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	its := make([]pubItem, len(changes))
	for i, ch := range changes {
		it, err := c.build(ch)
		if err != nil {
			return nil, fmt.Errorf("adapters: change %d: %w", i, err)
		}
		its[i] = it
	}
	return c.submit(ctx, its)
}

// build makes the unsigned envelope of a record change.
func (c *Client) build(chg Change) (pubItem, error) {
	dept := c.cfg.Department
	if c.catalog == nil {
		return pubItem{}, fmt.Errorf("adapters: no catalog: department %s can't publish record type %s", dept, chg.RecordType)
	}
	if _, ok := c.catalog.Department(dept); !ok {
		return pubItem{}, fmt.Errorf("adapters: department %s is not in the catalog, so it has no record type %s (it can only PublishEnvelope)", dept, chg.RecordType)
	}
	rt, err := c.catalog.RecordType(dept, chg.RecordType, 0)
	if err != nil {
		return pubItem{}, err
	}
	key, err := recordKey(rt, chg.Values)
	if err != nil {
		return pubItem{}, err
	}
	ref := schema.RecordRef(c.secret, rt.Name, key)
	values := chg.Values
	if chg.Op == schema.OpDelete {
		values = nil
	}
	ch, ds, err := schema.BuildChange(rt, chg.Op, ref, values, rand.Reader)
	if err != nil {
		return pubItem{}, err
	}
	env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: dept, Change: ch}
	return pubItem{env: env, ds: ds}, nil
}

// recordKey returns the canonical values of rt's key fields.
func recordKey(rt *schema.RecordType, values map[string]string) ([]string, error) {
	key := make([]string, 0, len(rt.Key))
	for _, k := range rt.Key {
		f, _ := rt.Field(k)
		v, err := f.Canonical(values[k])
		if err != nil {
			return nil, err
		}
		key = append(key, v)
	}
	return key, nil
}
