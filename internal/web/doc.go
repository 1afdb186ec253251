// Package web is Skein's HTTP listener for operators (--http-addr): the
// Prometheus metrics at /metrics, and on the coordinator a status page
// (cluster members, running and recent queries, a query's plan and task
// timeline) with the JSON API under /api that the page renders.
//
// It is apart from the Flight listener because scrapers, browsers and
// Kubernetes speak HTTP, and it serves only what it is given: a
// prometheus.Gatherer and, on the coordinator, a Status to read. It knows
// nothing of how queries run. The page's files are embedded (static/), so
// the binary needs no build step, no CDN and no other file.
//
// The page and the API take the same credentials as Flight when auth is
// on (HTTP Basic, checked by the Login the coordinator gives, which counts
// failures with Flight's throttle); /metrics is open, for scrapers, and
// says nothing of users, SQL or data.
package web
