package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TLS flags that do not go together, and CA bundles that hold no
// certificate, are refused at start, by executors as by the coordinator:
// an executor with --tls-client-ca and no certificate served plaintext to
// anyone, and a --cluster-ca that was no CA failed at the first dial.
func TestTLSFlagsChecked(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(notPEM, []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tls  TLS
		want string
	}{
		{TLS{Key: "k.pem"}, "--tls-cert and --tls-key go together"},
		{TLS{Cert: "c.pem"}, "--tls-cert and --tls-key go together"},
		{TLS{ClientCA: notPEM}, "--tls-client-ca needs --tls-cert"},
		{TLS{CA: filepath.Join(dir, "missing.pem")}, "--cluster-ca"},
		{TLS{CA: notPEM}, "holds no PEM certificate"},
		// /dev/zero read whole ran the process out of memory.
		{TLS{CA: "/dev/zero"}, "longer than 1024 KiB"},
		{TLS{Cert: "c.pem", Key: "k.pem", ClientCA: "/dev/zero"}, "longer than 1024 KiB"},
	} {
		if err := c.tls.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.tls, err, c.want)
		}
	}
	if err := (TLS{}).Validate(); err != nil {
		t.Errorf("no TLS: %v", err)
	}
}

// A secret file is read up to 64 KiB: --cluster-secret-file /dev/zero ran
// the process out of memory.
func TestSecretFileBounded(t *testing.T) {
	if _, err := (TLS{Cert: "/dev/zero", Key: "/dev/zero"}).keyPair(); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("a certificate of /dev/zero: %v", err)
	}
	if _, err := ReadSecret("/dev/zero"); err == nil || !strings.Contains(err.Error(), "longer than 64 KiB") {
		t.Fatalf("/dev/zero: %v", err)
	}
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := ReadSecret(f); err != nil || string(s) != "0123456789abcdef0123" {
		t.Fatalf("%q %v", s, err)
	}
}
