package objstore

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
)

// ExtensionFile is the name of DuckDB's httpfs extension in the extension
// directory (make build puts it in bin/duckdb-extensions).
const ExtensionFile = "httpfs.duckdb_extension"

// Config is the operator's object storage configuration. Object storage is
// on when at least one prefix is allowed.
type Config struct {
	// Endpoint is the S3 endpoint, host[:port]; empty: AWS, for Region.
	Endpoint string
	// Region signs the requests; empty: AWS_REGION, AWS_DEFAULT_REGION,
	// else us-east-1 (LoadEnv).
	Region string
	// URLStyle is how a bucket is addressed: "path" (endpoint/bucket/key)
	// or "vhost" (bucket.endpoint/key); empty: vhost on AWS, path on any
	// other endpoint (MinIO, Ceph and the like expect path).
	URLStyle string
	// UseSSL is whether the endpoint is reached over TLS.
	UseSSL bool
	// Prefixes are the only s3:// locations SQL may read.
	Prefixes Prefixes
	// ExtensionDir holds httpfs.duckdb_extension; empty: the directory
	// duckdb-extensions beside the executable.
	ExtensionDir string
	// Credentials sign requests; from the AWS environment variables
	// (LoadEnv), never from flags. None: anonymous requests.
	Credentials Credentials
}

// RegisterFlags binds the configuration to flags on fs; every command that
// runs DuckDB (serve, coordinator, executor) registers the same ones.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoint, "s3-endpoint", "", "S3 endpoint host[:port] (empty: AWS for --s3-region); credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN")
	fs.StringVar(&c.Region, "s3-region", "", "S3 region (empty: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)")
	fs.StringVar(&c.URLStyle, "s3-url-style", "", "how buckets are addressed: path or vhost (empty: vhost on AWS, path with --s3-endpoint)")
	fs.BoolVar(&c.UseSSL, "s3-use-ssl", true, "reach the S3 endpoint over TLS")
	fs.Var(&c.Prefixes, "allow-prefix", "an object storage prefix SQL may read, s3://bucket/path/ (repeatable; SKEIN_ALLOW_PREFIX separates them with commas); none: no object storage")
	fs.StringVar(&c.ExtensionDir, "extension-dir", "", "directory holding DuckDB's httpfs extension (empty: duckdb-extensions beside the skein binary, where make build puts it)")
}

// Enabled reports whether object storage is configured.
func (c *Config) Enabled() bool { return len(c.Prefixes) > 0 }

// LoadEnv fills what the environment gives: the credentials, and the
// region when no flag set it.
func (c *Config) LoadEnv(getenv func(string) string) {
	c.Credentials = Credentials{
		KeyID:        getenv("AWS_ACCESS_KEY_ID"),
		Secret:       getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: getenv("AWS_SESSION_TOKEN"),
	}
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if c.Region == "" {
			c.Region = getenv(v)
		}
	}
}

// Validate checks the configuration before anything starts.
func (c *Config) Validate() error {
	if !c.Enabled() {
		if c.Endpoint != "" || c.URLStyle != "" {
			return errors.New("--s3-endpoint and --s3-url-style need --allow-prefix s3://bucket/path/: without one, SQL reads no object storage")
		}
		return nil
	}
	if strings.Contains(c.Endpoint, "://") || strings.ContainsAny(c.Endpoint, "/?#@ ") {
		return fmt.Errorf("--s3-endpoint %q: want host[:port] (TLS is --s3-use-ssl)", c.Endpoint)
	}
	if c.URLStyle != "" && c.URLStyle != "path" && c.URLStyle != "vhost" {
		return fmt.Errorf("--s3-url-style %q: want path or vhost", c.URLStyle)
	}
	if strings.ContainsAny(c.Region, "'/ ") {
		return fmt.Errorf("--s3-region %q is not a region", c.Region)
	}
	if (c.Credentials.KeyID == "") != (c.Credentials.Secret == "") {
		return errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together")
	}
	return nil
}

// HostPort is the endpoint requests go to, host[:port] in lower case.
func (c *Config) HostPort() string {
	if c.Endpoint != "" {
		return strings.ToLower(c.Endpoint)
	}
	return "s3." + c.RegionOrDefault() + ".amazonaws.com"
}

// RegionOrDefault is the region requests are signed for.
func (c *Config) RegionOrDefault() string {
	if c.Region == "" {
		return "us-east-1"
	}
	return c.Region
}

// Style is how buckets are addressed: path or vhost.
func (c *Config) Style() string {
	switch {
	case c.URLStyle != "":
		return c.URLStyle
	case c.Endpoint == "":
		return "vhost"
	}
	return "path"
}

// Extension returns the path of the httpfs extension, which must exist.
func (c *Config) Extension() (string, error) {
	dir := c.ExtensionDir
	if dir == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("object storage: finding the extension directory: %w", err)
		}
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir = filepath.Join(filepath.Dir(exe), "duckdb-extensions")
	}
	path, err := filepath.Abs(filepath.Join(dir, ExtensionFile))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("object storage (--allow-prefix) needs DuckDB's httpfs extension, and %s is missing: make build puts it beside bin/skein; or point --extension-dir at its directory: %w", path, err)
	}
	return path, nil
}

// Credentials sign S3 requests. They print as [redacted] however they are
// formatted, so that no log line or error can show them by accident.
type Credentials struct {
	KeyID, Secret, SessionToken string
}

// Present reports whether there are credentials (else requests are
// anonymous).
func (c Credentials) Present() bool { return c.KeyID != "" }

func (c Credentials) String() string   { return "[redacted]" }
func (c Credentials) GoString() string { return "[redacted]" }

// MarshalText keeps the credentials out of JSON and text encodings.
func (c Credentials) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Prefix is an allowed object storage location: a bucket and a key prefix
// (empty, or ending in "/").
type Prefix struct {
	Bucket, Key string
}

// URL is the prefix as SQL names it, s3://bucket/key.
func (p Prefix) URL() string { return "s3://" + p.Bucket + "/" + p.Key }

// ParsePrefix reads s3://bucket[/path][/]: a prefix is a directory, so a
// missing final "/" is added.
func ParsePrefix(s string) (Prefix, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return Prefix{}, fmt.Errorf("--allow-prefix %q: want s3://bucket/path/", s)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return Prefix{}, fmt.Errorf("--allow-prefix %q: %q is not a bucket name", s, bucket)
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	if strings.ContainsAny(key, "?*[]{}\\'\x00") || dotSegment(key) || strings.Contains("/"+key, "//") {
		return Prefix{}, fmt.Errorf("--allow-prefix %q: the path may not hold wildcards, quotes, '?', '.' or '..' segments or empty segments", s)
	}
	return Prefix{Bucket: bucket, Key: key}, nil
}

// validBucket follows S3's bucket naming rules, as far as they matter here.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return !strings.Contains(b, "..")
}

// dotSegment reports whether a "/"-separated path has a "." or ".."
// segment, which HTTP clients and servers may collapse.
func dotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// Prefixes is a repeatable --allow-prefix flag.
type Prefixes []Prefix

func (ps *Prefixes) String() string {
	if ps == nil {
		return ""
	}
	urls := make([]string, len(*ps))
	for i, p := range *ps {
		urls[i] = p.URL()
	}
	return strings.Join(urls, ",")
}

// Set adds one prefix (flag.Value).
func (ps *Prefixes) Set(v string) error {
	p, err := ParsePrefix(strings.TrimSpace(v))
	if err != nil {
		return err
	}
	*ps = append(*ps, p)
	return nil
}

// ListSeparator is how SKEIN_ALLOW_PREFIX separates prefixes: s3:// holds
// the ":" other list variables use.
func (ps *Prefixes) ListSeparator() string { return "," }

// URLs are the prefixes as SQL names them.
func (ps Prefixes) URLs() []string {
	urls := make([]string, len(ps))
	for i, p := range ps {
		urls[i] = p.URL()
	}
	return urls
}

// LogTo states the configuration (never the credentials' values) on log.
func (c *Config) LogTo(log zerolog.Logger) {
	if !c.Enabled() {
		return
	}
	log.Info().Str("endpoint", c.HostPort()).Str("region", c.RegionOrDefault()).Str("url_style", c.Style()).
		Bool("tls", c.UseSSL).Strs("prefixes", c.Prefixes.URLs()).Bool("credentials", c.Credentials.Present()).
		Msg("object storage readable")
}
