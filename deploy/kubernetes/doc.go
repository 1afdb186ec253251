// Package kubernetes holds no code: it is the test of Skein's Kubernetes
// manifests (kustomization.yaml and the files it lists), in a Go module of
// its own so that kustomize and the Kubernetes API types it builds them with
// stay out of the skein binary's dependencies.
//
// The test builds the kustomization with kustomize's own library, decodes
// every object strictly into the Kubernetes API types (an unknown or
// misspelt field fails), and checks the containers against the binary: each
// flag and SKEIN_* variable they pass must be one `skein <command> -h`
// lists, so the manifests cannot drift from the binary (SKEIN_BIN names
// it; make test-go builds and passes bin/skein). It also keeps the
// Dockerfile honest about what `make build` makes.
package kubernetes
