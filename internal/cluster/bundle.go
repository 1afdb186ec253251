package cluster

import (
	"fmt"
	"slices"
	"strings"
)

// A task's handle must let any executor run it, and the producers it reads
// when they are lost, so it carries their tickets. Nested, a consumer's
// ticket holding its producers' whole handles, tickets grew by each stage's
// fan-in and a third (base64) at every stage: TPC-H Q12's merge ticket on
// two executors was 974 KB for 60 tasks (SF1, --task-rows 100000), and
// grew with the cube of the cluster's threads. Instead a Source names its producer by task number, and
// a handle is the task's own signed ticket followed by the signed tickets of
// every task it reads, directly or not, each once, in task order, separated
// by BundleSep: it grows with the tasks it depends on, not their paths.

// BundleSep separates the signed tickets of a handle; base64url and the
// ticket's own '.' never hold it.
const BundleSep = "~"

// TopTicket is the task's own signed ticket of a handle (the handle itself
// when it carries no producers).
func TopTicket(handle string) string {
	top, _, _ := strings.Cut(handle, BundleSep)
	return top
}

// Handles builds the handles of tasks from their signed tickets (by task
// number) and the tasks each reads (its Sources' Task numbers).
type Handles struct {
	tickets map[int]string
	reads   map[int][]int
	closure map[int][]int
}

// NewHandles starts a set of handles.
func NewHandles() *Handles {
	return &Handles{tickets: map[int]string{}, reads: map[int][]int{}, closure: map[int][]int{}}
}

// Add records task's signed ticket and the tasks it reads.
func (h *Handles) Add(task int, ticket string, reads []int) {
	h.tickets[task] = ticket
	h.reads[task] = reads
}

// Handle is task's handle: its ticket, then those of every task it reads,
// transitively, in task order.
func (h *Handles) Handle(task int) (string, error) {
	deps, err := h.deps(task, nil)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(h.tickets[task])
	for _, d := range deps {
		b.WriteString(BundleSep)
		b.WriteString(h.tickets[d])
	}
	return b.String(), nil
}

// deps are the tasks task reads, transitively, sorted; path guards against
// a cycle, which a forged bundle could hold.
func (h *Handles) deps(task int, path []int) ([]int, error) {
	if d, ok := h.closure[task]; ok {
		return d, nil
	}
	if _, ok := h.tickets[task]; !ok {
		return nil, fmt.Errorf("task %d is not in the handle", task)
	}
	if slices.Contains(path, task) {
		return nil, fmt.Errorf("task %d reads itself", task)
	}
	var out []int
	for _, r := range h.reads[task] {
		sub, err := h.deps(r, append(path, task))
		if err != nil {
			return nil, err
		}
		out = append(append(out, r), sub...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	h.closure[task] = out
	return out, nil
}

// reads are the task numbers of t's sources named by number.
func reads(t Task) []int {
	var out []int
	for _, in := range t.Inputs {
		for _, s := range in.Sources {
			if s.Handle == "" {
				out = append(out, s.Task)
			}
		}
	}
	return out
}

// HandlesOf verifies signed task tickets of query, each a ticket alone
// (no producers' after it), and gives the set of handles they make.
func (s Secret) HandlesOf(tickets []string, query string) (*Handles, error) {
	h := NewHandles()
	signer := s.Signer("tickets")
	for _, tk := range tickets {
		var d Task
		if err := signer.Verify(KindTask, tk, &d); err != nil {
			return nil, fmt.Errorf("a producer's ticket: %w", err)
		}
		if d.Query != query {
			return nil, fmt.Errorf("a producer's ticket of query %s in a handle of query %s", d.Query, query)
		}
		h.Add(d.Task, tk, reads(d))
	}
	return h, nil
}

// Tickets are the signed tickets of handles, each once, in the order
// first seen: what HandlesOf takes back.
func Tickets(handles []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range handles {
		for _, tk := range strings.Split(h, BundleSep) {
			if !seen[tk] {
				seen[tk] = true
				out = append(out, tk)
			}
		}
	}
	return out
}

// WithSources verifies the producers' tickets top's handle carried after
// its own (VerifyTask) and gives each of top's sources named by number its
// handle.
func (s Secret) WithSources(top Task) (Task, error) {
	var tickets []string
	if top.bundle != "" {
		tickets = strings.Split(top.bundle, BundleSep)
	}
	h, err := s.HandlesOf(tickets, top.Query)
	if err != nil {
		return Task{}, err
	}
	inputs := make([]Input, len(top.Inputs))
	for i, in := range top.Inputs {
		in.Sources = slices.Clone(in.Sources)
		for j, src := range in.Sources {
			if src.Handle != "" {
				continue
			}
			handle, err := h.Handle(src.Task)
			if err != nil {
				return Task{}, fmt.Errorf("task %s/%d: %w", top.Query, top.Task, err)
			}
			in.Sources[j].Handle = handle
		}
		inputs[i] = in
	}
	top.Inputs = inputs
	return top, nil
}
