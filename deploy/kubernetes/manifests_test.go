package kubernetes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The files the generators read are the operator's and not in the
// repository; the test builds with the committed examples in their place.
var operatorFiles = map[string]string{
	"cluster-secret": "", // written by the test: any 16+ characters
	"auth.env":       "auth.env.example",
	"s3.env":         "s3.env.example",
}

// Variables a container may carry that are no skein flag: the AWS
// credentials DuckDB's S3 secret is made from.
var awsVariables = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"}

type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	claims      map[string]*corev1.PersistentVolumeClaim
	budgets     map[string]*policyv1.PodDisruptionBudget
}

// build runs kustomize over this directory (in memory, with the operator's
// files made from the examples) and decodes every object strictly.
func build(t *testing.T) objects {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		copyFile(t, fs, e.Name(), e.Name())
	}
	for name, example := range operatorFiles {
		if example == "" {
			if err := fs.WriteFile("/app/"+name, []byte("a-test-secret-of-32-characters!!\n")); err != nil {
				t.Fatal(err)
			}
			continue
		}
		copyFile(t, fs, example, name)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/app")
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	o := objects{
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		configMaps:  map[string]*corev1.ConfigMap{},
		secrets:     map[string]*corev1.Secret{},
		claims:      map[string]*corev1.PersistentVolumeClaim{},
		budgets:     map[string]*policyv1.PodDisruptionBudget{},
	}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		kind, name := r.GetKind(), r.GetName()
		var target any
		switch kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			o.deployments[name], target = d, d
		case "Service":
			s := &corev1.Service{}
			o.services[name], target = s, s
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			o.configMaps[name], target = c, c
		case "Secret":
			s := &corev1.Secret{}
			o.secrets[name], target = s, s
		case "PersistentVolumeClaim":
			c := &corev1.PersistentVolumeClaim{}
			o.claims[name], target = c, c
		case "PodDisruptionBudget":
			b := &policyv1.PodDisruptionBudget{}
			o.budgets[name], target = b, b
		default:
			t.Fatalf("%s %s: a kind this test does not check", kind, name)
		}
		if err := yaml.UnmarshalStrict(y, target); err != nil {
			t.Fatalf("%s %s: %v\n%s", kind, name, err, y)
		}
	}
	return o
}

func copyFile(t *testing.T, fs filesys.FileSystem, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteFile("/app/"+to, b); err != nil {
		t.Fatal(err)
	}
}

// helpFlags returns the flags `skein <command> -h` lists.
func helpFlags(t *testing.T, command string) map[string]bool {
	t.Helper()
	bin := os.Getenv("SKEIN_BIN")
	if bin == "" {
		t.Fatal("SKEIN_BIN is not set: make test-go builds bin/skein and runs this test with it")
	}
	out, err := exec.Command(bin, command, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("skein %s -h: %v\n%s", command, err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 5 {
		t.Fatalf("skein %s -h listed %d flags:\n%s", command, len(flags), out)
	}
	return flags
}

// flagOfVariable is the flag SKEIN_<FLAG> stands for (cmd/skein parseFlags).
func flagOfVariable(v string) (string, bool) {
	rest, ok := strings.CutPrefix(v, "SKEIN_")
	return strings.ReplaceAll(strings.ToLower(rest), "_", "-"), ok
}

func TestManifestsMatchTheBinary(t *testing.T) {
	o := build(t)
	if len(o.deployments) != 2 {
		t.Fatalf("deployments: %v, want the coordinator and the executors", keys(o.deployments))
	}
	help := map[string]map[string]bool{}
	for name, d := range o.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if len(c.Args) == 0 {
				t.Fatalf("%s/%s: no args: the first names the skein command", name, c.Name)
			}
			command := c.Args[0]
			if help[command] == nil {
				help[command] = helpFlags(t, command)
			}
			flags := help[command]
			defined := map[string]bool{}
			checkVariable := func(v, from string) {
				defined[v] = true
				if flag, ok := flagOfVariable(v); ok {
					if !flags[flag] {
						t.Errorf("%s/%s: %s (from %s) stands for --%s, which skein %s does not have", name, c.Name, v, from, flag, command)
					}
					return
				}
				if !slices.Contains(awsVariables, v) && !usedInArgs(c.Args, v) {
					t.Errorf("%s/%s: %s (from %s) is neither a SKEIN_ flag variable, an AWS credential nor used in the args", name, c.Name, v, from)
				}
			}
			for _, e := range c.Env {
				checkVariable(e.Name, "env")
			}
			for _, src := range c.EnvFrom {
				switch {
				case src.ConfigMapRef != nil:
					cm := o.configMaps[src.ConfigMapRef.Name]
					if cm == nil {
						t.Fatalf("%s/%s: envFrom ConfigMap %s is not in the kustomization", name, c.Name, src.ConfigMapRef.Name)
					}
					for k := range cm.Data {
						checkVariable(k, "ConfigMap "+cm.Name)
					}
				case src.SecretRef != nil:
					s := o.secrets[src.SecretRef.Name]
					if s == nil {
						t.Fatalf("%s/%s: envFrom Secret %s is not in the kustomization", name, c.Name, src.SecretRef.Name)
					}
					for k := range s.Data {
						checkVariable(k, "Secret "+s.Name)
					}
				}
			}
			for _, a := range c.Args[1:] {
				flag, _, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				if !strings.HasPrefix(a, "--") || !ok {
					t.Errorf("%s/%s: arg %q: write flags as --name=value", name, c.Name, a)
					continue
				}
				if !flags[flag] {
					t.Errorf("%s/%s: --%s: skein %s has no such flag", name, c.Name, flag, command)
				}
				for _, m := range regexp.MustCompile(`\$\(([A-Z0-9_]+)\)`).FindAllStringSubmatch(a, -1) {
					if !defined[m[1]] {
						t.Errorf("%s/%s: %s refers to $(%s), which the container does not define", name, c.Name, a, m[1])
					}
				}
			}
		}
	}
	for _, command := range []string{"coordinator", "executor"} {
		if help[command] == nil {
			t.Errorf("no Deployment runs skein %s", command)
		}
	}
}

// TestManifestsHangTogether checks what kubectl would accept but a cluster
// would not run: selectors that select, ports that are the ones listened
// on, probes on the gRPC health service, executors finding the
// coordinator by its Service's name.
func TestManifestsHangTogether(t *testing.T) {
	o := build(t)
	coord, exec := o.deployments["skein-coordinator"], o.deployments["skein-executor"]
	if coord == nil || exec == nil {
		t.Fatalf("deployments %v: want skein-coordinator and skein-executor", keys(o.deployments))
	}
	svc := o.services["skein-coordinator"]
	if svc == nil {
		t.Fatalf("services %v: want skein-coordinator", keys(o.services))
	}
	if !selects(svc.Spec.Selector, coord.Spec.Template.Labels) || selects(svc.Spec.Selector, exec.Spec.Template.Labels) {
		t.Errorf("the coordinator Service's selector %v must select the coordinator's pods and only them", svc.Spec.Selector)
	}
	for _, d := range []*appsv1.Deployment{coord, exec} {
		if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("%s: selector %v does not select its own pods %v", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		}
		pod := d.Spec.Template.Spec
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pods must run as non-root", d.Name)
		}
		c := pod.Containers[0]
		listen := portOf(t, d.Name, arg(c.Args, "addr"))
		if p := containerPort(c, "flight"); p != listen {
			t.Errorf("%s: containerPort flight %d, but --addr listens on %d", d.Name, p, listen)
		}
		if p := containerPort(c, "http"); p != portOf(t, d.Name, arg(c.Args, "http-addr")) {
			t.Errorf("%s: containerPort http %d is not --http-addr's port", d.Name, p)
		}
		for what, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if probe == nil || probe.GRPC == nil || probe.GRPC.Port != listen {
				t.Errorf("%s: %s probe must use the gRPC health service on port %d", d.Name, what, listen)
				continue
			}
			// Readiness asks the default service (NOT_SERVING while
			// draining or unregistered); liveness the "liveness" one, which
			// serves until the process stops, so a drain is not killed.
			if want := map[string]string{"readiness": "", "liveness": "liveness"}[what]; ptr(probe.GRPC.Service) != want {
				t.Errorf("%s: %s probe asks service %q, want %q", d.Name, what, ptr(probe.GRPC.Service), want)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: no resource requests", d.Name)
		}
		grace := pod.TerminationGracePeriodSeconds
		if g := arg(c.Args, "shutdown-grace"); grace == nil || g == "" || !longer(*grace, g) {
			t.Errorf("%s: terminationGracePeriodSeconds must outlast --shutdown-grace %q", d.Name, g)
		}
		for _, v := range pod.Volumes {
			if v.Secret != nil && o.secrets[v.Secret.SecretName] == nil {
				t.Errorf("%s: volume %s mounts Secret %s, not in the kustomization", d.Name, v.Name, v.Secret.SecretName)
			}
			if v.PersistentVolumeClaim != nil && o.claims[v.PersistentVolumeClaim.ClaimName] == nil {
				t.Errorf("%s: volume %s mounts claim %s, not in the kustomization", d.Name, v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		}
	}
	want := fmt.Sprintf("grpc://%s:%d", svc.Name, svc.Spec.Ports[0].Port)
	if got := arg(exec.Spec.Template.Spec.Containers[0].Args, "coordinator"); got != want || svc.Spec.Ports[0].Name != "flight" {
		t.Errorf("executors find the coordinator at %q, want the Service's flight port %q", got, want)
	}
	if n := len(o.budgets); n != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1 for the executors", n)
	}
	for _, b := range o.budgets {
		if !selects(b.Spec.Selector.MatchLabels, exec.Spec.Template.Labels) || selects(b.Spec.Selector.MatchLabels, coord.Spec.Template.Labels) {
			t.Errorf("PodDisruptionBudget %s must select the executors only", b.Name)
		}
	}
}

// TestDockerfileCopiesWhatMakeBuildMakes keeps the image honest: its build
// stage runs make build in the Go of go.mod, and its runtime stage copies
// make build's output directory and runs the binary make build writes.
func TestDockerfileCopiesWhatMakeBuildMakes(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	docker, makefile, gomod := read("Dockerfile"), read("Makefile"), read("go.mod")
	out := regexp.MustCompile(`(?m)^build:.*\n(?:\t.*\n)*?\t.*-o (\S+)/(\S+) `).FindStringSubmatch(makefile)
	if out == nil {
		t.Fatal("Makefile: no build target writing -o DIR/BINARY")
	}
	dir, binary := out[1], out[2]
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(gomod)
	for _, want := range []string{
		"ARG GO_VERSION=" + goVersion[1] + "\n",
		"RUN make build",
		"COPY --from=build /src/" + dir + "/ /opt/skein/\n",
		`ENTRYPOINT ["/opt/skein/` + binary + `"]`,
		"USER nonroot",
	} {
		if !strings.Contains(docker, want) {
			t.Errorf("Dockerfile does not say %q", want)
		}
	}
	if n := strings.Count(docker, "\nCOPY --from="); n != 1 {
		t.Errorf("the runtime stage copies %d things; want exactly make build's %s/", n, dir)
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func arg(args []string, flag string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v
		}
	}
	return ""
}

func portOf(t *testing.T, who, addr string) int32 {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("%s: address %q has no port", who, addr)
	}
	return int32(p)
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return -1
}

// longer reports whether seconds outlasts a Go duration such as "60s".
func longer(seconds int64, d string) bool {
	n, err := strconv.Atoi(strings.TrimSuffix(d, "s"))
	return err == nil && strings.HasSuffix(d, "s") && seconds > int64(n)
}

func usedInArgs(args []string, v string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "$("+v+")") })
}

func ptr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
