package re2

import "slices"

// prog is a compiled program before flattening.
type prog struct {
	inst              []inst
	start, unanchored uint32
}

// optimize skips no-ops and marks the Alt of a trailing any-byte loop as
// AltMatch, as RE2's Prog::Optimize does, from the anchored start only.
func (p *prog) optimize() {
	skip := func(j uint32) uint32 {
		for j != 0 && p.inst[j].op == opNop {
			j = p.inst[j].out
		}
		return j
	}
	p.walk(func(id uint32) []uint32 {
		ip := &p.inst[id]
		ip.out = skip(ip.out)
		if ip.op == opAlt {
			ip.out1 = skip(ip.out1)
			return []uint32{ip.out, ip.out1}
		}
		return []uint32{ip.out}
	})
	p.walk(func(id uint32) []uint32 {
		ip := &p.inst[id]
		if ip.op != opAlt {
			return []uint32{ip.out}
		}
		next := []uint32{ip.out, ip.out1}
		j, k := p.inst[ip.out], p.inst[ip.out1]
		anyByteLoop := func(x inst) bool { return x.op == opByteRange && x.out == id && x.lo == 0 && x.hi == 0xff }
		if anyByteLoop(j) && p.isMatch(ip.out1) || p.isMatch(ip.out) && anyByteLoop(k) {
			ip.op = opAltMatch
		}
		return next
	})
}

// walk visits the instructions reachable from start, breadth first, each
// once; visit returns the successors.
func (p *prog) walk(visit func(id uint32) []uint32) {
	seen := map[uint32]bool{p.start: true}
	queue := []uint32{p.start}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, next := range visit(id) {
			if next != 0 && !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
}

func (p *prog) isMatch(id uint32) bool {
	for {
		switch ip := p.inst[id]; ip.op {
		case opCapture, opNop:
			id = ip.out
		case opMatch:
			return true
		default:
			return false
		}
	}
}

// flatten returns the size of the flattened program (RE2's Prog::Flatten):
// the program becomes one list per "root" (the fail instruction, the
// starts, every target of a byte-consuming or empty-width instruction, and
// the targets of Alts that several roots share); a list holds the
// non-Alt instructions reachable from its root through Alts and no-ops,
// and one no-op per other root it reaches.
func (p *prog) flatten() int {
	roots := newOrderedSet()
	roots.add(0)
	roots.add(p.unanchored)
	roots.add(p.start)

	// Successor roots, and the Alts that lead to each instruction.
	preds := map[uint32][]uint32{}
	p.closure(p.unanchored, func(id uint32, ip inst) bool {
		switch ip.op {
		case opAlt, opAltMatch:
			preds[ip.out] = append(preds[ip.out], id)
			preds[ip.out1] = append(preds[ip.out1], id)
		case opByteRange, opCapture, opEmptyWidth:
			roots.add(ip.out)
		}
		return true
	}, true)

	// Dominator roots: an instruction reached from a root that one of its
	// Alt predecessors is not reached from becomes a root of its own.
	sorted := slices.Clone(roots.list)
	slices.Sort(sorted)
	for i := len(sorted) - 1; i > 0; i-- {
		root := sorted[i]
		if root == p.unanchored || root == p.start {
			continue
		}
		reached := p.treeOf(root, roots)
		for _, id := range reached.list {
			for _, pred := range preds[id] {
				if !reached.has(pred) {
					roots.add(id)
				}
			}
		}
	}

	size := 0
	for _, root := range roots.list {
		size += p.listSize(root, roots)
	}
	return size
}

// closure visits every instruction reachable from id, following all
// edges when through is set; visit says whether to go on past one.
func (p *prog) closure(id uint32, visit func(uint32, inst) bool, through bool) {
	seen := map[uint32]bool{}
	stack := []uint32{id}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for !seen[id] {
			seen[id] = true
			ip := p.inst[id]
			if !visit(id, ip) {
				break
			}
			switch ip.op {
			case opAlt, opAltMatch:
				stack = append(stack, ip.out1)
				id = ip.out
				continue
			case opByteRange, opCapture, opEmptyWidth:
				if through {
					id = ip.out
					continue
				}
			case opNop:
				id = ip.out
				continue
			}
			break
		}
	}
}

// treeOf is what RE2's MarkDominator reaches from root: through Alts and
// no-ops, stopping at other roots.
func (p *prog) treeOf(root uint32, roots *orderedSet) *orderedSet {
	reached := newOrderedSet()
	p.closure(root, func(id uint32, _ inst) bool {
		reached.add(id)
		return id == root || !roots.has(id)
	}, false)
	return reached
}

// listSize counts the instructions RE2's EmitList writes for root.
func (p *prog) listSize(root uint32, roots *orderedSet) int {
	n := 0
	p.closure(root, func(id uint32, ip inst) bool {
		if id != root && roots.has(id) {
			n++ // a no-op to the other root's list
			return false
		}
		switch ip.op {
		case opAltMatch, opByteRange, opCapture, opEmptyWidth, opMatch, opFail:
			n++
		}
		return true
	}, false)
	return n
}

// orderedSet is a set that remembers insertion order.
type orderedSet struct {
	list []uint32
	in   map[uint32]bool
}

func newOrderedSet() *orderedSet { return &orderedSet{in: map[uint32]bool{}} }

func (s *orderedSet) add(id uint32) {
	if !s.in[id] {
		s.in[id] = true
		s.list = append(s.list, id)
	}
}

func (s *orderedSet) has(id uint32) bool { return s.in[id] }
