package partition

import "slices"

// Dedupe merges each stage that computes what an earlier stage computes
// into that one, whose output its readers then read too: a stage of its
// own over files only (no inputs), broadcast, with the same query over the
// same files. Its rows are the same whatever its slices, and every
// reader reads all of them. TPC-DS Q33 asks its three channels for the
// same date_dim month, the same customer_address offset and the same
// IN over item: eleven one-task stages, each a task on an executor of
// one thread, ran before any of its joins could start (at 29 ms of its
// 187 ms); after the merge, five, and the joins started at 17 ms. A stage
// that a reader of the earlier one reads too is left as it is (a task
// reads each input once, and the spool counts its readers' tasks). from[j]
// is the stage of the plan as it was that stage j of the new plan is (as
// Fuse); tasks is not needed, there to share Fuse's signature.
func (p *Plan) Dedupe(tasks func(k int) int) (from []int) {
	from = make([]int, len(p.Stages))
	for i := range from {
		from[i] = i
	}
	for {
		a, b := p.duplicate()
		if b < 0 {
			return from
		}
		p.mergeInto(a, b)
		from = append(from[:b:b], from[b+1:]...)
	}
}

// duplicate finds a stage b that computes what an earlier stage a does,
// or b < 0. Each candidate's query is sampled once.
func (p *Plan) duplicate() (a, b int) {
	samples := map[int]Node{}
	for j, s := range p.Stages {
		if !fromFilesOnly(s) {
			continue
		}
		if n, err := s.sample(); err == nil {
			samples[j] = n
		}
	}
	for j, sb := range p.Stages {
		nb, ok := samples[j]
		if !ok {
			continue
		}
		for i, sa := range p.Stages[:j] {
			na, ok := samples[i]
			if ok && sa.Scan.Format == sb.Scan.Format && slices.Equal(sa.Scan.Paths, sb.Scan.Paths) &&
				!slices.ContainsFunc(sb.Readers(), func(r int) bool { return slices.Contains(sa.Readers(), r) }) &&
				sameExpr(na, nb) {
				return i, j
			}
		}
	}
	return -1, -1
}

// fromFilesOnly says s is a broadcast computed from its scan's files
// alone, whatever slices the coordinator cuts.
func fromFilesOnly(s *Stage) bool {
	return s.Output == Broadcast && s.Scan != nil && s.Consumer >= 0 && len(s.Inputs) == 0 && len(s.Slices) == 0 &&
		s.bySlice == nil && len(s.subqueries) == 0 && len(s.withs) == 0
}

// mergeInto makes stage b's readers read stage a, which comes before it,
// and removes b.
func (p *Plan) mergeInto(a, b int) {
	sa := p.Stages[a]
	for _, r := range p.Stages[b].Readers() {
		sa.Also = append(sa.Also, r)
		for k := range p.Stages[r].Inputs {
			if p.Stages[r].Inputs[k].Stage == b {
				p.Stages[r].Inputs[k].Stage = a
			}
		}
	}
	p.Stages = slices.Delete(p.Stages, b, b+1)
	p.renumber(func(old int) int {
		if old > b {
			return old - 1
		}
		return old
	})
}
