// Package metrics is the portal's Prometheus registry: the HTTP requests it
// served, the balena calls it made, the watcher's figures, the scheduled
// digest's deliveries, and the Go and process collectors. Each Server has
// a registry of its own (not the global default), so that several portals
// can run in one test.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/digest"
	"github.com/keyportal/keyportal/internal/watch"
)

// Metrics holds one registry and the portal's own collectors.
type Metrics struct {
	reg            *prometheus.Registry
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	balenaRequests *prometheus.CounterVec
	balenaDuration *prometheus.HistogramVec
}

// New makes a registry with the Go and process collectors and the
// portal's request metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyportal_http_requests_total", Help: "HTTP requests served, by route template and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyportal_http_request_duration_seconds", Help: "Time to serve an HTTP request, by route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		balenaRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyportal_balena_requests_total", Help: "Calls to the balena API, by endpoint template and status code (0: no answer).",
		}, []string{"endpoint", "code"}),
		balenaDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyportal_balena_request_duration_seconds", Help: "Time of a call to the balena API, by endpoint template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"endpoint"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.balenaRequests, m.balenaDuration,
	)
	return m
}

// ObserveHTTP records one served request; route is the router's template
// (e.g. "/keys/:id/edit"), never a path with ids or a query.
func (m *Metrics) ObserveHTTP(route string, code int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveBalena records one call to balena; it is apiclient.Options.Observe.
func (m *Metrics) ObserveBalena(endpoint string, code int, d time.Duration) {
	m.balenaRequests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	m.balenaDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Watch exports w's figures.
func (m *Metrics) Watch(w *watch.Watcher) { m.reg.MustRegister(watcherCollector{w}) }

// Digest exports d's deliveries and its next scheduled time, read with
// now; only for a digest that has a destination.
func (m *Metrics) Digest(d *digest.Service, now func() time.Time) {
	m.reg.MustRegister(digestCollector{d, now})
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	// The server compresses its answers itself.
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, DisableCompression: true})
}

// Registry is the registry, for tests that gather it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var (
	keysDesc = prometheus.NewDesc("keyportal_keys",
		"Keys the watcher sees, by kind and status (expiring: within KEYPORTAL_WATCH_WARN; active: later). A kind's statuses add up to all its keys.",
		[]string{"kind", "status"}, nil)
	nextExpiryDesc = prometheus.NewDesc("keyportal_keys_next_expiry_timestamp_seconds",
		"The soonest future expiry of each kind of key, as a Unix time; absent when no key of the kind will expire.",
		[]string{"kind"}, nil)
	lastSuccessDesc = prometheus.NewDesc("keyportal_watch_last_success_timestamp_seconds",
		"When the watcher last read the figures successfully, as a Unix time; absent before its first success.", nil, nil)
	errorsDesc = prometheus.NewDesc("keyportal_watch_errors_total",
		"Refreshes of the watcher that failed; the figures of the last success stay.", nil, nil)
)

// The digest's metrics name a destination by its kind only: a webhook's
// URL holds a token, and addresses are nobody's business on /metrics.
var (
	digestLastSuccessDesc = prometheus.NewDesc("keyportal_digest_last_success_timestamp_seconds",
		"When this process last delivered the digest to every configured destination, as a Unix time; absent before the first. Only the replica that claims a digest sends it: take the max over instances.",
		nil, nil)
	digestSentDesc = prometheus.NewDesc("keyportal_digest_sent_total",
		"Digests this process sent, by destination (webhook, email) and result (ok, error).",
		[]string{"destination", "result"}, nil)
	digestNextDesc = prometheus.NewDesc("keyportal_digest_next_timestamp_seconds",
		"When the next scheduled digest is due (KEYPORTAL_DIGEST_SCHEDULE), as a Unix time.", nil, nil)
)

// digestCollector reads the digest's state at each scrape.
type digestCollector struct {
	d   *digest.Service
	now func() time.Time
}

func (c digestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- digestLastSuccessDesc
	ch <- digestSentDesc
	ch <- digestNextDesc
}

func (c digestCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.Stats()
	if !st.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(digestLastSuccessDesc, prometheus.GaugeValue, unix(st.LastSuccess))
	}
	for _, s := range st.Sent {
		ch <- prometheus.MustNewConstMetric(digestSentDesc, prometheus.CounterValue, float64(s.OK), s.Destination, "ok")
		ch <- prometheus.MustNewConstMetric(digestSentDesc, prometheus.CounterValue, float64(s.Errors), s.Destination, "error")
	}
	ch <- prometheus.MustNewConstMetric(digestNextDesc, prometheus.GaugeValue, unix(c.d.Next(c.now())))
}

// watcherCollector reads the watcher's state at each scrape.
type watcherCollector struct{ w *watch.Watcher }

func (c watcherCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keysDesc
	ch <- nextExpiryDesc
	ch <- lastSuccessDesc
	ch <- errorsDesc
}

func (c watcherCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.w.State()
	ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(st.Errors))
	if !st.OK {
		return
	}
	ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, unix(st.Figures.At))
	for _, kind := range apikeys.Kinds {
		for _, status := range apikeys.Statuses {
			ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue,
				float64(st.Figures.Keys[kind][status]), string(kind), string(status))
		}
		if t, ok := st.Figures.NextExpiry[kind]; ok {
			ch <- prometheus.MustNewConstMetric(nextExpiryDesc, prometheus.GaugeValue, unix(t), string(kind))
		}
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Compile-time check that the balena hook has apiclient's shape.
var _ = apiclient.Options{Observe: (*Metrics)(nil).ObserveBalena}
