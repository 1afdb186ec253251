package partition

import "fmt"

// Fuse merges each stage whose one task shuffles (or range-partitions)
// its rows to a stage of one task into that consumer: such an exchange
// moves the rows from one task to one task (on a cluster of one executor thread, every join's
// partial aggregate to its final one), and costs a spool, a Flight hop
// and a load for nothing. The fused stage runs the consumer's query over
// the producer's as a subquery (the composition CheckAST prepares), with
// the producer's scan and inputs. A consumer that reads other inputs,
// subqueries or WITH results, or range-partitions its output, is left
// alone. tasks(k) is the number of tasks of stage k of the plan as it
// was (its slices when it scans); from[j] is the stage of that plan whose
// scan and tasks stage j of the fused plan has.
func (p *Plan) Fuse(tasks func(k int) int) (from []int) {
	from = make([]int, len(p.Stages))
	for i := range from {
		from[i] = i
	}
	for {
		i := p.fusible(func(s *Stage) int { return tasks(from[s.ID]) })
		if i < 0 {
			return from
		}
		c := p.Stages[i].Consumer
		p.fuse(i)
		// The fused stage takes the consumer's place, one down, with
		// the producer's tasks.
		src := from[i]
		from = append(from[:i:i], from[i+1:]...)
		from[c-1] = src
	}
}

// fusible is the first producer Fuse merges into its consumer, or -1.
func (p *Plan) fusible(tasks func(*Stage) int) int {
	for i, s := range p.Stages {
		if (s.Output != Shuffle && s.Output != Range) || s.Consumer < 0 || len(s.Also) > 0 || tasks(s) != 1 {
			continue
		}
		c := p.Stages[s.Consumer]
		if c.Scan != nil || tasks(c) != 1 || len(c.Inputs) != 1 || len(c.subqueries) > 0 || len(c.withs) > 0 || c.Output == Range {
			continue
		}
		return i
	}
	return -1
}

// fuse merges stage i into its consumer and renumbers the stages.
func (p *Plan) fuse(i int) {
	prod := p.Stages[i]
	cons := p.Stages[prod.Consumer]
	// The consumer's description first: a WITH result's stage is
	// explained as "WITH name, ...".
	f := &Stage{Scan: prod.Scan, Tasks: prod.Tasks, Inputs: prod.Inputs, Output: cons.Output, Consumer: cons.Consumer,
		Also: cons.Also, Keys: cons.Keys, Range: cons.Range, What: cons.What + "; in the same task: " + prod.What,
		subqueries: prod.subqueries, withs: prod.withs, Slices: prod.Slices}
	build := func(sl Slice, scan Node, input func(int, string) Node) (Node, error) {
		inner, err := prod.build(sl, scan, input)
		if err != nil {
			return nil, err
		}
		return cons.node(nil, func(_ int, alias string) Node { return subquery(dropKeys(inner, prod.Keys), alias) })
	}
	f.node = func(scan Node, input func(int, string) Node) (Node, error) { return build(Slice{}, scan, input) }
	if prod.bySlice != nil {
		// A join reading inputs in its slice's key range (rangejoin.go).
		f.bySlice = build
	}
	// Old id to new: the producer's readers now read the fused stage,
	// which is where the consumer was, one place down.
	id := func(old int) int {
		switch {
		case old == i:
			old = prod.Consumer
		case old < 0:
			return old
		}
		if old > i {
			return old - 1
		}
		return old
	}
	p.Stages[prod.Consumer] = f
	p.Stages = append(p.Stages[:i:i], p.Stages[i+1:]...)
	p.renumber(id)
}

// renumber gives the stages their places as ids, once one is gone: every
// stage a stage names (its readers, its inputs, each WITH's) is id of its
// old id, and every input is named after its producer.
func (p *Plan) renumber(id func(old int) int) {
	for j, s := range p.Stages {
		s.ID = j
		s.Consumer = id(s.Consumer)
		for k := range s.Also {
			s.Also[k] = id(s.Also[k])
		}
		for k := range s.Inputs {
			s.Inputs[k].Stage = id(s.Inputs[k].Stage)
			s.Inputs[k].Table = fmt.Sprintf("skein_x%d", s.Inputs[k].Stage)
		}
	}
	for m, s := range p.withs {
		p.withs[m] = id(s)
	}
}
