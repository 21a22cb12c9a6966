package gateway

import "github.com/prometheus/client_golang/prometheus"

// metrics are the gateway's Prometheus metrics.
type metrics struct {
	requests       *prometheus.CounterVec   // by operation, outcome
	latency        *prometheus.HistogramVec // by operation
	denials        *prometheus.CounterVec   // by reason
	accessWrite    prometheus.Histogram
	accessFailures prometheus.Counter
	storeErrors    *prometheus.CounterVec // by department
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossledger_gateway_requests_total",
			Help: "GraphQL requests by operation (first root field) and outcome (ok, partial, error, denied, refused, rate-limited).",
		}, []string{"operation", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crossledger_gateway_request_seconds",
			Help:    "GraphQL request latency by operation, access-entry write included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"operation"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossledger_gateway_denials_total",
			Help: "Logged denials by reason (no-token, expired, no-grant, revoked, row-condition, unknown-purpose, …).",
		}, []string{"reason"}),
		accessWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "crossledger_gateway_access_write_seconds",
			Help:    "Latency of writing a request's access entries to the ledger (Kafka acks=all).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}),
		accessFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crossledger_gateway_access_write_failures_total",
			Help: "Access entries that could not be written (each failed its request).",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossledger_gateway_store_errors_total",
			Help: "Store reads that failed, by department.",
		}, []string{"department"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.denials, m.accessWrite, m.accessFailures, m.storeErrors)
	}
	return m
}
