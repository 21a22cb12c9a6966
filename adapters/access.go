package adapters

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/schema"
)

// AccessWriter writes the gateway's access entries through a [Publisher]
// that signs as the gateway and publishes to the access topic
// (PublisherConfig.ChangesTopic = crossledger.access): each entry gets the
// next seq from the publisher's outbox, so the gateway's seqs stay dense
// across crashes, and its receipt is verified like any other.
//
// WriteAccess fails unless the entry reached Kafka with acks=all. An entry
// that is durable in the outbox but not sent ([ErrQueued]) is still an
// error for the query — it will be logged when the publisher re-sends it,
// but the query that needed it is not answered.
type AccessWriter struct {
	// Publisher signs and publishes the entries.
	Publisher *Publisher
	// Client is the older form: when Publisher is nil, Client's
	// publisher is used.
	Client *Client
}

// WriteAccess publishes one access entry and returns its id
// "<department>:<seq>".
func (w AccessWriter) WriteAccess(ctx context.Context, a *schema.Access) (string, error) {
	p := w.Publisher
	if p == nil && w.Client != nil {
		p = w.Client.Publisher
	}
	if p == nil {
		return "", errors.New("adapters: AccessWriter has no Publisher")
	}
	env := &schema.Envelope{Kind: schema.KindAccess, Access: a}
	seq, err := p.PublishEnvelope(ctx, env, nil)
	if err != nil {
		if errors.Is(err, ErrQueued) {
			return "", fmt.Errorf("adapters: access entry %d not sent: %w", seq, err)
		}
		return "", err
	}
	return p.Department() + ":" + strconv.FormatUint(seq, 10), nil
}

// Forwarder sends wire messages that a department signed elsewhere (a
// grant made with `crossledger grant --out`) to the changes topic, keyed
// by department, with acks=all. It does not sign or number anything.
type Forwarder struct {
	w *kafka.Writer
}

// NewForwarder returns a Forwarder producing to topic on brokers.
func NewForwarder(brokers []string, topic string) *Forwarder {
	return &Forwarder{w: topics.NewWriter(brokers, topic)}
}

// SendGrant sends message (a schema.Message) for department.
func (f *Forwarder) SendGrant(ctx context.Context, department string, message []byte) error {
	return f.w.WriteMessages(ctx, kafka.Message{Key: []byte(department), Value: message})
}

// Close closes the producer.
func (f *Forwarder) Close() error { return f.w.Close() }
