package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLS is one node's TLS files. With Cert and Key the node serves TLS
// (requiring client certificates signed by ClientCA when set). Dialing a
// grpc+tls:// peer trusts the system roots, CA, and Cert itself (so a
// cluster sharing one self-signed certificate works), and presents Cert
// as a client certificate.
type TLS struct {
	Cert, Key, ClientCA, CA string
}

// Validate checks the flags go together and the CA bundles hold
// certificates, at start: an executor with --tls-client-ca and no
// certificate (or --tls-key alone) served plaintext to anyone, where the
// coordinator refused the flags, and a --cluster-ca that was no CA failed
// only at the first dial (a tester's).
func (t TLS) Validate() error {
	if (t.Cert == "") != (t.Key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if t.ClientCA != "" && t.Cert == "" {
		return errors.New("--tls-client-ca needs --tls-cert and --tls-key")
	}
	for flag, f := range map[string]string{"--tls-client-ca": t.ClientCA, "--cluster-ca": t.CA} {
		if f != "" {
			if err := addPEM(x509.NewCertPool(), f); err != nil {
				return fmt.Errorf("%s: %w", flag, err)
			}
		}
	}
	return nil
}

// Enabled reports whether the node serves TLS.
func (t TLS) Enabled() bool { return t.Cert != "" }

// ServerCreds are the listener's credentials; nil without TLS.
func (t TLS) ServerCreds() (credentials.TransportCredentials, error) {
	if t.Cert == "" {
		return nil, nil
	}
	cert, err := t.keyPair()
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCA != "" {
		pool := x509.NewCertPool()
		if err := addPEM(pool, t.ClientCA); err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(tc), nil
}

// HTTPConfig is the TLS configuration of the node's HTTP listener
// (--http-addr): its certificate, asking no client certificate (scrapers
// seldom have one; the status page asks for a user's password); nil
// without TLS.
func (t TLS) HTTPConfig() (*tls.Config, error) {
	if t.Cert == "" {
		return nil, nil
	}
	cert, err := t.keyPair()
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Dial returns the address and transport option for a peer's URI:
// grpc:// is plaintext, grpc+tls:// verified TLS.
func (t TLS) Dial(uri string) (string, grpc.DialOption, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", nil, fmt.Errorf("URI %q: %w", uri, err)
	}
	switch u.Scheme {
	case "grpc", "grpc+tcp":
		return u.Host, grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	case "grpc+tls":
	default:
		return "", nil, fmt.Errorf("URI %q: scheme must be grpc or grpc+tls", uri)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range []string{t.CA, t.Cert} {
		if f != "" {
			if err := addPEM(pool, f); err != nil {
				return "", nil, err
			}
		}
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if t.Cert != "" {
		cert, err := t.keyPair()
		if err != nil {
			return "", nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return u.Host, grpc.WithTransportCredentials(credentials.NewTLS(tc)), nil
}

// maxPEMFile bounds a certificate, key or CA bundle file.
const maxPEMFile = 1 << 20

// keyPair loads the node's certificate and key.
func (t TLS) keyPair() (tls.Certificate, error) {
	certPEM, err := ReadBounded(t.Cert, maxPEMFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS key pair: %w", err)
	}
	keyPEM, err := ReadBounded(t.Key, maxPEMFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS key pair: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS key pair: %w", err)
	}
	return cert, nil
}

func addPEM(pool *x509.CertPool, file string) error {
	pem, err := ReadBounded(file, maxPEMFile)
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", file)
	}
	return nil
}
