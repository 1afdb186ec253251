package integration

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The object storage tests run a real S3 server: moto's server mode, from
// its own venv ($BUILD_DIR/motoenv, pinned by tools/moto-requirements.txt;
// make test-go creates it, and so does the test when it is missing).

// repoRoot is the checkout the tests run from (go test runs them in
// integration/).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// motoBin makes sure moto's venv exists and returns its bin dir.
func motoBin(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	build := os.Getenv("BUILD_DIR")
	if build == "" {
		build = filepath.Join(root, "build")
	}
	venv := filepath.Join(build, "motoenv")
	cmd := exec.Command("bash", filepath.Join(root, "tools", "venv.sh"), venv, filepath.Join(root, "tools", "moto-requirements.txt"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tools/venv.sh: %v\n%s", err, out)
	}
	return filepath.Join(venv, "bin")
}

// extensionDir makes sure DuckDB's httpfs extension is in the checkout's
// bin/duckdb-extensions (make build puts it there) and returns the dir.
func extensionDir(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(root, "bin", "duckdb-extensions")
	if out, err := exec.Command("bash", filepath.Join(root, "tools", "duckdb-extensions.sh"), dir).CombinedOutput(); err != nil {
		t.Fatalf("tools/duckdb-extensions.sh: %v\n%s", err, out)
	}
	return dir
}

// s3Server is a moto S3 server process on a free loopback port.
type s3Server struct {
	url      string // http://127.0.0.1:PORT
	endpoint string // 127.0.0.1:PORT
}

var motoListening = regexp.MustCompile(`Running on (http://127\.0\.0\.1:\d+)`)

// startS3 starts moto. With auth > 0, the first auth requests are served
// unauthenticated (the test's setup: users, keys, buckets, objects) and
// every later one must carry a valid SigV4 signature of an IAM user's key.
func startS3(t testing.TB, auth int) *s3Server {
	t.Helper()
	cmd := exec.Command(filepath.Join(motoBin(t), "moto_server"), "-H", "127.0.0.1", "-p", "0")
	cmd.Env = os.Environ()
	if auth > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("INITIAL_NO_AUTH_ACTION_COUNT=%d", auth))
	}
	// A pipe of our own, as startProc's: the process is waited for as soon
	// as it starts.
	stderr, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	exited, err := startTied(cmd)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	done := make(chan struct{})
	go func() {
		<-exited
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		defer stderr.Close()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := motoListening.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
	}()
	select {
	case u := <-ready:
		return &s3Server{url: u, endpoint: strings.TrimPrefix(u, "http://")}
	case <-done:
		t.Fatal("moto_server exited before it was ready")
	case <-time.After(60 * time.Second):
		t.Fatal("moto_server not ready after 60s")
	}
	return nil
}

// do sends one unsigned request (moto serves them during setup).
func (s *s3Server) do(t testing.TB, req *http.Request) []byte {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s\n%s", req.Method, req.URL, resp.Status, body)
	}
	return body
}

// put creates a bucket (key "") or an object.
func (s *s3Server) put(t testing.TB, bucket, key string, body []byte) {
	t.Helper()
	u := s.url + "/" + bucket
	if key != "" {
		u += "/" + key
	}
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	// moto lets an unsigned request replace an object only if it is public.
	req.Header.Set("X-Amz-Acl", "public-read")
	s.do(t, req)
}

// putFile uploads a local file.
func (s *s3Server) putFile(t testing.TB, bucket, key, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s.put(t, bucket, key, b)
}

// iam calls moto's IAM API: moto routes a request by the service its
// Authorization header names, checked only once auth is on.
func (s *s3Server) iam(t testing.TB, action string, params url.Values) []byte {
	t.Helper()
	params.Set("Action", action)
	params.Set("Version", "2010-05-08")
	req, _ := http.NewRequest(http.MethodPost, s.url+"/", strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0")
	return s.do(t, req)
}

// s3User is an IAM user's access key, allowed everything.
type s3User struct{ keyID, secret string }

// iamSetupRequests is how many requests newUser makes.
const iamSetupRequests = 3

// newUser creates an IAM user with an access key and a policy allowing
// every action.
func (s *s3Server) newUser(t testing.TB, name string) s3User {
	t.Helper()
	s.iam(t, "CreateUser", url.Values{"UserName": {name}})
	var key struct {
		ID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	if err := xml.Unmarshal(s.iam(t, "CreateAccessKey", url.Values{"UserName": {name}}), &key); err != nil || key.ID == "" {
		t.Fatalf("CreateAccessKey: %v", err)
	}
	s.iam(t, "PutUserPolicy", url.Values{"UserName": {name}, "PolicyName": {"all"},
		"PolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`}})
	return s3User{keyID: key.ID, secret: key.Secret}
}

// recorder is an HTTP reverse proxy in front of an S3 server that notes
// the credentials requests carry.
type recorder struct {
	mu       sync.Mutex
	requests int
	keyIDs   map[string]bool // from the Authorization header's Credential
	tokens   map[string]bool // x-amz-security-token
}

var credentialRe = regexp.MustCompile(`Credential=([^/]+)/`)

func (r *recorder) note(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if m := credentialRe.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
		r.keyIDs[m[1]] = true
	}
	if tok := req.Header.Get("X-Amz-Security-Token"); tok != "" {
		r.tokens[tok] = true
	}
}

// front is the address (host:port) of a reverse proxy to the server that
// calls before with each request, then passes it on, until the test ends.
func (s *s3Server) front(t testing.TB, before func(*http.Request)) string {
	t.Helper()
	target, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before(r)
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return lis.Addr().String()
}
