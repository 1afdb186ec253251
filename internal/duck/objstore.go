package duck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/objstore"
)

// ObjectStore gives SQL read access to object storage through DuckDB's
// httpfs extension, loaded from a file before the sandbox locks LOAD, with
// the operator's credentials in a secret SQL cannot read or replace (the
// guard refuses CREATE and DROP SECRET, duckdb_secrets() and
// which_secret()). Every HTTP request httpfs makes goes through the
// instance's objstore.Gate, which forwards only reads of allowed keys to
// the endpoint; the DB closes it.
type ObjectStore struct {
	Config objstore.Config
	// Log receives the gate's refusals and failures.
	Log zerolog.Logger
}

// secretName is the operator's secret in every instance.
const secretName = "skein_s3"

// loadObjectStore starts the gate, loads httpfs and configures both; the
// sandbox that follows locks all of it, and adds the prefixes to the
// allowed directories.
func (db *DB) loadObjectStore(ctx context.Context, o ObjectStore) error {
	c := o.Config
	ext, err := c.Extension()
	if err != nil {
		return err
	}
	if db.gate, err = objstore.StartGate(c, o.Log); err != nil {
		return err
	}
	clearNoProxy()
	settings := []string{
		"LOAD " + QuoteString(ext),
		// httpfs copies AWS_ACCESS_KEY_ID and the like from the
		// environment into settings anyone may read
		// (current_setting(), duckdb_settings()): the credentials live
		// in the secret only.
		"SET GLOBAL s3_access_key_id = ''",
		"SET GLOBAL s3_secret_access_key = ''",
		"SET GLOBAL s3_session_token = ''",
		// curl: httplib rewrites the query of a listing after DuckDB
		// signed it (prefix=a%2F goes out as prefix=a/), which S3
		// servers that check signatures strictly refuse.
		"SET GLOBAL httpfs_client_implementation = 'curl'",
		"SET GLOBAL http_proxy = " + QuoteString(db.gate.Addr()),
	}
	defer db.changed()
	for _, s := range settings {
		if _, err := db.pool.ExecContext(ctx, s); err != nil {
			return wrap(fmt.Errorf("duck: object storage (%s): %w", s, err))
		}
	}
	// DuckDB speaks plain HTTP to the gate, which uses TLS onward when
	// configured; the signature does not cover the scheme.
	secret := fmt.Sprintf("CREATE SECRET %s (TYPE s3, PROVIDER config, REGION %s, ENDPOINT %s, URL_STYLE %s, USE_SSL false",
		secretName, QuoteString(c.RegionOrDefault()), QuoteString(c.HostPort()), QuoteString(c.Style()))
	cr := c.Credentials
	if cr.Present() {
		secret += fmt.Sprintf(", KEY_ID %s, SECRET %s", QuoteString(cr.KeyID), QuoteString(cr.Secret))
	}
	if cr.SessionToken != "" {
		secret += ", SESSION_TOKEN " + QuoteString(cr.SessionToken)
	}
	if _, err := db.pool.ExecContext(ctx, secret+")"); err != nil {
		// DuckDB's message may quote the statement, credentials and all.
		return fmt.Errorf("duck: object storage: creating the S3 secret: %w", redactErr(err, cr.KeyID, cr.Secret, cr.SessionToken))
	}
	return nil
}

var noProxyOnce sync.Once

// clearNoProxy removes NO_PROXY from the process's environment, once,
// before any DuckDB instance sends a request: curl, DuckDB's HTTP client,
// would skip the gate (http_proxy) for the hosts it names, and send
// requests wherever a path says (s3_endpoint) without the gate's checks.
// Go reads the proxy environment once and keeps it (the gRPC clients, the
// gate's own requests), so it is read first and the operator's NO_PROXY
// still applies there.
func clearNoProxy() {
	noProxyOnce.Do(func() {
		_, _ = http.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: "https", Host: "skein.invalid"}})
		for _, v := range []string{"NO_PROXY", "no_proxy"} {
			_ = os.Unsetenv(v)
		}
	})
}

// redactErr is err with every value replaced by [redacted], keeping the
// first line of DuckDB's message (the rest quotes the statement).
func redactErr(err error, values ...string) error {
	msg := err.Error()
	var de *duckdb.Error
	if errors.As(err, &de) && de.Msg != "" {
		msg = de.Msg
	}
	msg, _, _ = strings.Cut(msg, "\n")
	for _, v := range values {
		if v != "" {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return errors.New(msg)
}

// ObjectStoreFor is the object storage of an instance, nil when the
// configuration allows no prefix.
func ObjectStoreFor(c objstore.Config, log zerolog.Logger) *ObjectStore {
	if !c.Enabled() {
		return nil
	}
	return &ObjectStore{Config: c, Log: log}
}
