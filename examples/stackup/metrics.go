package main

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (never the global one: two servers in one process, as in the tests,
// must not share counters).
type metrics struct {
	reg      *prometheus.Registry
	runs     *prometheus.CounterVec // runs ended, by outcome
	running  prometheus.Gauge       // runs in progress
	steps    *prometheus.CounterVec // step events, by state
	duration prometheus.Histogram   // how long steps took, succeeded or failed
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stackup_runs_total",
			Help: "Runs ended since the server started, by outcome (succeeded, failed, cancelled, interrupted).",
		}, []string{"outcome"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stackup_runs_in_progress",
			Help: "Runs in progress.",
		}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stackup_steps_total",
			Help: "Step events since the server started, by state (started, retrying, succeeded, failed, skipped, rolled_back, rollback_failed, waiting).",
		}, []string{"state"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stackup_step_duration_seconds",
			Help:    "How long a step took, from its start to its success or failure, retries included.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600},
		}),
	}
	m.reg.MustRegister(m.runs, m.running, m.steps, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, outcome := range []string{runSucceeded, runFailed, runCancelled, runInterrupted} {
		m.runs.WithLabelValues(outcome) // listed at 0 before the first
	}
	return m
}

// step counts a step event in state, and its duration took if ok.
func (m *metrics) step(state string, took time.Duration, ok bool) {
	m.steps.WithLabelValues(state).Inc()
	if ok {
		m.duration.Observe(took.Seconds())
	}
}

// handler serves the metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
