// Package objstore gives SQL read access to object storage (s3://), as the
// operator configures it and no further.
//
// DuckDB reads s3:// through its httpfs extension, which Skein loads from a
// file installed at build time (duck.ObjectStore). DuckDB's sandbox
// (allowed_directories) limits which s3:// paths SQL may name, but what
// httpfs then sends over the network is not limited by it: a path such as
// 's3://bucket/data/../other/key' passes the prefix check and is read from
// other/, and httpfs takes query parameters in the path
// ('...?s3_endpoint=HOST&s3_use_ssl=false') that send the request, signed
// with the operator's credentials and carrying their session token, to any
// host SQL names, or fetch anything reachable from the server (a metadata
// service) as rows. Nothing in the text of a query can tell, since a path
// may be computed (getvariable, a prepared statement's parameter).
//
// So every request httpfs makes goes through a Gate: an HTTP proxy on
// loopback that each process runs for its DuckDB instances (DuckDB's
// http_proxy setting, locked with the rest of the configuration). DuckDB
// speaks plain HTTP to it; the gate forwards only reads (GET, HEAD, and
// listings) of keys under an allowed prefix to the configured endpoint, over
// TLS when configured, and refuses everything else (another host, a key with
// a "." or ".." segment, CONNECT, writes). The request is forwarded as DuckDB
// signed it: SigV4 signs the host, path and query, not the scheme, so the
// gate needs no credentials of its own.
//
// Config is the operator's side: the flags every command shares
// (--s3-endpoint, --s3-region, --s3-url-style, --s3-use-ssl,
// --allow-prefix, --extension-dir) and the credentials, read from the usual
// AWS environment variables and never printed.
package objstore
