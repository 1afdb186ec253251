package flightsql_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/internal/cluster"
	"google.golang.org/grpc/metadata"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
)

// issue makes a certificate signed by parent (self-signed when parent is
// nil) and writes it and its key as PEM files in dir.
func issue(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".crt", "CERTIFICATE", der)
	write(name+".key", "EC PRIVATE KEY", kb)
	return cert, key
}

func TestTLSAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := issue(t, dir, "ca", nil, nil, true)
	issue(t, dir, "server", ca, caKey, false)
	client, clientKey := issue(t, dir, "client", ca, caKey, false)
	data := t.TempDir()
	ts := startServer(t, func(c *coordinator.Config) {
		c.TLSCert, c.TLSKey = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
		c.TLSClientCA = filepath.Join(dir, "ca.crt")
		// Executors in the same process share the certificate and talk
		// to the coordinator, and it to them, over mutual TLS.
		c.Executors, c.ClusterCA, c.TaskRows = 2, filepath.Join(dir, "ca.crt"), 1
		c.AllowDirs = []string{data}
	})
	if !strings.HasPrefix(ts.c.URI(), "grpc+tls://") {
		t.Fatalf("URI %s", ts.c.URI())
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	dial := func(certs []tls.Certificate) *flightsql.Client {
		c, err := flightsql.NewClient(ts.addr, nil, nil, grpc.WithTransportCredentials(
			credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: certs})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Without a client certificate the handshake fails.
	_, err := dial(nil).Execute(ctx, "SELECT 1")
	wantCode(t, err, codes.Unavailable)
	certs := []tls.Certificate{{Certificate: [][]byte{client.Raw}, PrivateKey: clientKey}}
	c := dial(certs)
	if _, recs := query(t, ctx, c, "SELECT 1"); rowCount(recs) != 1 {
		t.Fatal("no row over mTLS")
	}
	file := filepath.Join(data, "t.parquet")
	if _, err := c.ExecuteUpdate(ctx, "COPY (SELECT range AS id FROM range(10000)) TO '"+file+"' (FORMAT parquet, ROW_GROUP_SIZE 2048)"); err != nil {
		t.Fatal(err)
	}
	info, err := c.Execute(ctx, "SELECT id FROM read_parquet('"+file+"')")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Endpoint) < 2 || !strings.HasPrefix(info.Endpoint[0].Location[0].GetUri(), "grpc+tls://") {
		t.Fatalf("endpoints %v", info.Endpoint)
	}
	// Through the coordinator, which fetches from the executors over mTLS.
	if _, recs := fetch(t, ctx, c, info); rowCount(recs) != 10000 {
		t.Fatalf("rows %d", rowCount(recs))
	}
}

func TestIdleSessionsClose(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.SessionIdle = 100 * time.Millisecond })
	ctx := context.Background()
	c := ts.client(t)
	st, err := c.Prepare(ctx, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = st.Execute(ctx)
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	wantCode(t, err, codes.NotFound)
}

// A coordinator that serves TLS refuses an executor advertising plaintext:
// its endpoints would be read in the clear by clients that chose TLS, its
// tickets and results with them. It registered without a word (a
// tester's).
func TestTLSCoordinatorRefusesPlaintextExecutors(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := issue(t, dir, "ca", nil, nil, true)
	issue(t, dir, "server", ca, caKey, false)
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *coordinator.Config) {
		c.TLSCert, c.TLSKey = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
		c.ClusterSecretFile = secretFile
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	c, err := flightsql.NewClient(ts.addr, nil, nil, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	secret, err := cluster.ReadSecret(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := secret.SignMember(cluster.Member{ID: "plain", Location: "grpc://127.0.0.1:1", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), cluster.MemberHeader, string(m))
	stream, err := c.Client.DoAction(ctx, &flight.Action{Type: cluster.ActionRegister, Body: m})
	if err == nil {
		_, err = stream.Recv()
	}
	wantMessage(t, err, codes.InvalidArgument, "in plaintext, and this coordinator serves TLS")
}
