package partition

import "slices"

// SubqueriesHere evaluates in its reader each uncorrelated subquery that
// broadcastSubqueries gave a stage of its own but that reads only WITH
// results its reader holds whole already (TPC-H Q15's max(total_revenue)
// over revenue, which the join reads too). Its own stage would be one task
// over those same rows, and a stage costs its scheduling, a ticket, a spool
// write and a Flight hop before the reader may start; in the reader it is
// one more pass over a table the reader has loaded. A reader with several
// tasks makes that pass in each, so it is only done there for a subquery
// over one table; one over a join of several waits for a reader of one
// task. The subquery is then evaluated as the query writes it, its WITH
// names read from the reader's inputs as everywhere else in its query, so
// the answer is the same. tasks(k) is the number of tasks of stage k of
// the plan as it was; from[j] is the stage of that plan that stage j of
// the new plan is (as Fuse).
func (p *Plan) SubqueriesHere(tasks func(k int) int) (from []int) {
	from = make([]int, len(p.Stages))
	for i := range from {
		from[i] = i
	}
	for {
		c, k := p.subqueryHere(func(s *Stage) int { return tasks(from[s.ID]) })
		if c == nil {
			return from
		}
		gone := c.Inputs[k].Stage
		p.evaluateHere(c, k)
		from = append(from[:gone:gone], from[gone+1:]...)
	}
}

// subqueryHere finds a reader c and the input k holding a subquery that c
// may evaluate itself, or nil.
func (p *Plan) subqueryHere(tasks func(*Stage) int) (c *Stage, k int) {
	for _, c := range p.Stages {
		for _, sq := range c.subqueries {
			s := p.Stages[c.Inputs[sq.input].Stage]
			if s.Scan != nil || tasks(s) != 1 || s.Output != Broadcast || s.Consumer != c.ID || len(s.Also) > 0 ||
				len(s.subqueries) > 0 {
				continue
			}
			// Every row the subquery reads is a WITH result c holds
			// whole: each of s's inputs a broadcast c reads as that WITH.
			held := true
			for _, in := range s.Inputs {
				held = held && p.Stages[in.Stage].Output == Broadcast && slices.ContainsFunc(c.Inputs, func(x Input) bool { return x.Stage == in.Stage })
			}
			tables := 0
			anyNode(sq.node, func(x Node) bool {
				switch str(x, "type") {
				case "BASE_TABLE":
					tables++
					i, ok := c.withs[str(x, "table_name")]
					held = held && ok && str(x, "schema_name") == "" && str(x, "catalog_name") == "" &&
						p.Stages[c.Inputs[i].Stage].Output == Broadcast
				case "TABLE_FUNCTION":
					held = false
				}
				return false
			})
			if held && tables > 0 && (tables == 1 || tasks(c) == 1) {
				return c, sq.input
			}
		}
	}
	return nil, 0
}

// evaluateHere makes c evaluate the subquery of its input k itself, and
// drops the stage that computed it (read by c alone), renumbering the
// stages after it.
func (p *Plan) evaluateHere(c *Stage, k int) {
	gone := c.Inputs[k].Stage
	c.Inputs = slices.Delete(c.Inputs, k, k+1)
	c.subqueries = slices.DeleteFunc(c.subqueries, func(sq subqueryInput) bool { return sq.input == k })
	down := func(i int) int {
		if i > k {
			return i - 1
		}
		return i
	}
	for j := range c.subqueries {
		c.subqueries[j].input = down(c.subqueries[j].input)
	}
	for m, i := range c.withs {
		c.withs[m] = down(i)
	}
	// c's own query names its inputs by position; the subquery's input
	// is never one of them (readSubqueries alone reads it).
	c.wrap(func(input func(int, string) Node) func(int, string) Node {
		return func(i int, alias string) Node { return input(down(i), alias) }
	}, nil)
	// The WITH results the subquery read are read by c already: the
	// dropped stage leaves their readers.
	for _, s := range p.Stages {
		if s.Consumer == gone {
			s.Consumer, s.Also = s.Also[0], s.Also[1:]
		}
		s.Also = slices.DeleteFunc(s.Also, func(r int) bool { return r == gone })
	}
	p.Stages = slices.Delete(p.Stages, gone, gone+1)
	p.renumber(func(old int) int {
		if old > gone {
			return old - 1
		}
		return old
	})
}
