package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics
//
// Ingest and the projector register their metrics with the
// prometheus.Registerer passed in [Deps.Registerer] and
// [Projector.Registerer] (nil: no metrics), never with the global default
// registry. Names:
//
//	crossledger_ingest_messages_consumed_total{topic}   messages read from Kafka
//	crossledger_ingest_accepted_entries_total           entries appended to the log
//	crossledger_ingest_rejected_total{reason}           rejections, by receipt reason
//	crossledger_ingest_duplicates_total                 redeliveries answered with the original receipt
//	crossledger_ingest_held_dropped_total               early messages dropped because max_pending was reached
//	crossledger_ingest_held_messages                    messages held until their department's seq gap fills
//	crossledger_ingest_batch_messages                   histogram: messages per batch
//	crossledger_ingest_stage_seconds{stage}             histogram: verify | append (payloads + log append + fsync) | receipts
//	crossledger_ingest_receipt_errors_total             receipt batches given up on after retries
//	crossledger_ingest_log_size                         entries in the log
//	crossledger_ingest_paused{reason}                   1 while ingest stops fetching: witnesses | projection-lag | disk
//	crossledger_ingest_unwitnessed_entries              committed entries not yet in a published (cosigned) checkpoint
//	crossledger_projector_watermark                     log size the projection has reached
//	crossledger_projector_lag_entries                   log size minus watermark, as of the projector's last step
//	crossledger_projector_entries_total                 entries written to the projection store
//	crossledger_projector_write_seconds                 histogram: one store write
//	crossledger_projector_errors_total                  failed projection steps (watermark read, log read, decode or write)

// Pause reasons: the reason label of crossledger_ingest_paused.
const (
	PauseWitnesses     = "witnesses"
	PauseProjectionLag = "projection-lag"
	PauseDisk          = "disk"
)

// pauseReasons are all the reason label values.
var pauseReasons = []string{PauseWitnesses, PauseProjectionLag, PauseDisk}

// Processing stages: the stage label of crossledger_ingest_stage_seconds.
const (
	stageVerify   = "verify"
	stageAppend   = "append"
	stageReceipts = "receipts"
)

// latencyBuckets span 0.25ms to ~8s.
var latencyBuckets = prometheus.ExponentialBuckets(0.00025, 2, 16)

type ingestMetrics struct {
	consumed      *prometheus.CounterVec
	accepted      prometheus.Counter
	rejected      *prometheus.CounterVec
	duplicates    prometheus.Counter
	heldDropped   prometheus.Counter
	held          prometheus.Gauge
	batchSize     prometheus.Histogram
	stage         *prometheus.HistogramVec
	receiptErrors prometheus.Counter
	logSize       prometheus.Gauge
	paused        *prometheus.GaugeVec
	unwitnessed   prometheus.Gauge
}

// newIngestMetrics makes ingest's metrics and registers them with r (if
// not nil). Metrics already registered with r (by an earlier Ingester
// of the same process, rebuilt after a failure) are reused.
func newIngestMetrics(r prometheus.Registerer) (*ingestMetrics, error) {
	const ns, sub = "crossledger", "ingest"
	m := &ingestMetrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_consumed_total",
			Help: "Messages read from Kafka, by topic."}, []string{"topic"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "accepted_entries_total",
			Help: "Entries appended to the log."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejected_total",
			Help: "Messages rejected, by the reason in their receipt."}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "duplicates_total",
			Help: "Redelivered messages answered with their original receipt."}),
		heldDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "held_dropped_total",
			Help: "Early messages dropped unanswered because a department's held set was full (max_pending); the sender re-sends."}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "held_messages",
			Help: "Messages held because their seq is ahead of their department's next expected one."}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_messages",
			Help: "Messages per batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "stage_seconds",
			Help:    "Time per batch in each stage: verify (decode, schema, signatures), append (payloads, log append, fsync, checkpoint), receipts (proofs, produce).",
			Buckets: latencyBuckets}, []string{"stage"}),
		receiptErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "receipt_errors_total",
			Help: "Receipt batches that could not be produced after retries (senders re-send)."}),
		logSize: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "log_size",
			Help: "Entries in the log."}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "paused",
			Help: "1 while ingest stops fetching because the witnesses' quorum is not met (witnesses), the projection lags (projection-lag) or the disk is short (disk)."}, []string{"reason"}),
		unwitnessed: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "unwitnessed_entries",
			Help: "Committed entries not yet in a published checkpoint (waiting for the witnesses' cosignatures); their receipts wait."}),
	}
	for _, s := range []string{stageVerify, stageAppend, stageReceipts} {
		m.stage.WithLabelValues(s)
	}
	if r == nil {
		m.initPaused()
		return m, nil
	}
	var err error
	if m.consumed, err = register(r, m.consumed); err != nil {
		return nil, err
	}
	if m.accepted, err = register(r, m.accepted); err != nil {
		return nil, err
	}
	if m.rejected, err = register(r, m.rejected); err != nil {
		return nil, err
	}
	if m.duplicates, err = register(r, m.duplicates); err != nil {
		return nil, err
	}
	if m.heldDropped, err = register(r, m.heldDropped); err != nil {
		return nil, err
	}
	if m.held, err = register(r, m.held); err != nil {
		return nil, err
	}
	if m.batchSize, err = register(r, m.batchSize); err != nil {
		return nil, err
	}
	if m.stage, err = register(r, m.stage); err != nil {
		return nil, err
	}
	if m.receiptErrors, err = register(r, m.receiptErrors); err != nil {
		return nil, err
	}
	if m.logSize, err = register(r, m.logSize); err != nil {
		return nil, err
	}
	if m.paused, err = register(r, m.paused); err != nil {
		return nil, err
	}
	if m.unwitnessed, err = register(r, m.unwitnessed); err != nil {
		return nil, err
	}
	m.initPaused()
	return m, nil
}

// initPaused shows every pause reason at 0 from the start.
func (m *ingestMetrics) initPaused() {
	for _, r := range pauseReasons {
		m.paused.WithLabelValues(r).Set(0)
	}
}

// setPaused sets the paused gauge: 1 for reason (if not ""), 0 for the others.
func (m *ingestMetrics) setPaused(reason string) {
	for _, r := range pauseReasons {
		v := 0.0
		if r == reason {
			v = 1
		}
		m.paused.WithLabelValues(r).Set(v)
	}
}

func (m *ingestMetrics) observeStage(stage string, start time.Time) {
	m.stage.WithLabelValues(stage).Observe(time.Since(start).Seconds())
}

type projectorMetrics struct {
	watermark prometheus.Gauge
	lag       prometheus.Gauge
	entries   prometheus.Counter
	write     prometheus.Histogram
	errors    prometheus.Counter
}

func newProjectorMetrics(r prometheus.Registerer) (*projectorMetrics, error) {
	const ns, sub = "crossledger", "projector"
	m := &projectorMetrics{
		watermark: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "watermark",
			Help: "Log size the projection store has reached."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "lag_entries",
			Help: "Entries in the log not yet projected, as of the projector's last step."}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "entries_total",
			Help: "Entries written to the projection store."}),
		write: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "write_seconds",
			Help: "Time of one projection store write (one batch).", Buckets: latencyBuckets}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "errors_total",
			Help: "Failed projection steps: watermark read, log or payload read, decode, or store write."}),
	}
	if r == nil {
		return m, nil
	}
	var err error
	if m.watermark, err = register(r, m.watermark); err != nil {
		return nil, err
	}
	if m.lag, err = register(r, m.lag); err != nil {
		return nil, err
	}
	if m.entries, err = register(r, m.entries); err != nil {
		return nil, err
	}
	if m.write, err = register(r, m.write); err != nil {
		return nil, err
	}
	if m.errors, err = register(r, m.errors); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with r, or returns the equal collector already
// registered.
func register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(C); ok {
				return ex, nil
			}
		}
		return c, fmt.Errorf("ingest: couldn't register metrics: %w", err)
	}
	return c, nil
}
