package re2

import (
	"regexp/syntax"
	"unicode"
)

// The compiler below builds RE2's forward program for a parsed
// expression. It follows the construction of re2/compile.cc step by step
// (fragments with patch lists, the UTF-8 rune range compiler, no-op
// elision), because the flattened size depends on the exact shape of the
// instruction graph, not only on how many instructions were allocated.

type opcode uint8

const (
	opAlt opcode = iota // the zero value, as in RE2, where a freed slot reads as an Alt
	opAltMatch
	opByteRange
	opCapture
	opEmptyWidth
	opMatch
	opNop
	opFail
)

type inst struct {
	op       opcode
	out      uint32 // while on a patch list: the list's next entry
	out1     uint32 // Alt's second branch
	lo, hi   byte
	foldcase bool
}

// patchList is a list of dangling out (even) or out1 (odd) fields,
// threaded through those fields themselves; entry 0 ends it.
type patchList struct{ head, tail uint32 }

func single(p uint32) patchList { return patchList{p, p} }

type frag struct {
	begin    uint32 // 0: matches nothing
	end      patchList
	nullable bool
}

type cacheKey struct {
	next     uint32
	lo, hi   byte
	foldcase bool
}

type compiler struct {
	inst     []inst
	maxInst  int
	failed   bool
	runes    map[cacheKey]uint32 // the rune range compiler's suffix cache
	runeFrag frag                // the alternation being built of a rune range
}

func newCompiler(maxInst int) *compiler {
	c := &compiler{maxInst: maxInst}
	c.inst = append(c.inst, inst{op: opFail}) // instruction 0 fails, so 0 can end lists
	return c
}

func (c *compiler) alloc() uint32 {
	if c.failed || len(c.inst)+1 > c.maxInst {
		c.failed = true
		return 0
	}
	c.inst = append(c.inst, inst{})
	return uint32(len(c.inst) - 1)
}

func (c *compiler) patch(l patchList, to uint32) {
	for l.head != 0 {
		ip := &c.inst[l.head>>1]
		if l.head&1 != 0 {
			l.head, ip.out1 = ip.out1, to
		} else {
			l.head, ip.out = ip.out, to
		}
	}
}

func (c *compiler) appendList(l1, l2 patchList) patchList {
	if l1.head == 0 {
		return l2
	}
	if l2.head == 0 {
		return l1
	}
	ip := &c.inst[l1.tail>>1]
	if l1.tail&1 != 0 {
		ip.out1 = l2.head
	} else {
		ip.out = l2.head
	}
	return patchList{l1.head, l2.tail}
}

func (c *compiler) cat(a, b frag) frag {
	if a.begin == 0 || b.begin == 0 {
		return frag{}
	}
	// A lone leading no-op is elided.
	if ip := c.inst[a.begin]; ip.op == opNop && a.end.head == a.begin<<1 && ip.out == 0 {
		c.patch(a.end, b.begin)
		return b
	}
	c.patch(a.end, b.begin)
	return frag{a.begin, b.end, a.nullable && b.nullable}
}

func (c *compiler) alt(a, b frag) frag {
	if a.begin == 0 {
		return b
	}
	if b.begin == 0 {
		return a
	}
	id := c.alloc()
	if id == 0 {
		return frag{}
	}
	c.inst[id] = inst{op: opAlt, out: a.begin, out1: b.begin}
	return frag{id, c.appendList(a.end, b.end), a.nullable || b.nullable}
}

// loop allocates the Alt of a repetition of a, greedy or not, and
// returns it with the patch list of its exit.
func (c *compiler) loop(a frag, nongreedy bool) (uint32, patchList) {
	id := c.alloc()
	if id == 0 {
		return 0, patchList{}
	}
	if nongreedy {
		c.inst[id] = inst{op: opAlt, out1: a.begin}
		return id, single(id << 1)
	}
	c.inst[id] = inst{op: opAlt, out: a.begin}
	return id, single(id<<1 | 1)
}

func (c *compiler) plus(a frag, nongreedy bool) frag {
	id, exit := c.loop(a, nongreedy)
	if id == 0 {
		return frag{}
	}
	c.patch(a.end, id)
	return frag{a.begin, exit, a.nullable}
}

func (c *compiler) star(a frag, nongreedy bool) frag {
	if a.nullable {
		// One Alt cannot keep the priorities of a nullable body: (a+)?.
		return c.quest(c.plus(a, nongreedy), nongreedy)
	}
	id, exit := c.loop(a, nongreedy)
	if id == 0 {
		return frag{}
	}
	c.patch(a.end, id)
	return frag{id, exit, true}
}

func (c *compiler) quest(a frag, nongreedy bool) frag {
	if a.begin == 0 {
		return c.nop()
	}
	id, exit := c.loop(a, nongreedy)
	if id == 0 {
		return frag{}
	}
	return frag{id, c.appendList(exit, a.end), true}
}

func (c *compiler) simple(op opcode, nullable bool) frag {
	id := c.alloc()
	if id == 0 {
		return frag{}
	}
	c.inst[id] = inst{op: op}
	return frag{id, single(id << 1), nullable}
}

func (c *compiler) nop() frag        { return c.simple(opNop, true) }
func (c *compiler) emptyWidth() frag { return c.simple(opEmptyWidth, true) }

func (c *compiler) match() frag {
	id := c.alloc()
	if id == 0 {
		return frag{}
	}
	c.inst[id] = inst{op: opMatch}
	return frag{begin: id}
}

func (c *compiler) byteRange(lo, hi byte, foldcase bool) frag {
	id := c.alloc()
	if id == 0 {
		return frag{}
	}
	c.inst[id] = inst{op: opByteRange, lo: lo, hi: hi, foldcase: foldcase}
	return frag{id, single(id << 1), false}
}

func (c *compiler) capture(a frag) frag {
	if a.begin == 0 {
		return frag{}
	}
	open, closing := c.alloc(), c.alloc()
	if open == 0 || closing == 0 {
		return frag{}
	}
	c.inst[open] = inst{op: opCapture, out: a.begin}
	c.inst[closing] = inst{op: opCapture}
	c.patch(a.end, closing)
	return frag{open, single(closing << 1), a.nullable}
}

// literal is one rune as UTF-8 bytes; only ASCII folds case.
func (c *compiler) literal(r rune, foldcase bool) frag {
	if r < 0x80 {
		return c.byteRange(byte(r), byte(r), foldcase)
	}
	b := encodeRune(r)
	f := c.byteRange(b[0], b[0], false)
	for _, x := range b[1:] {
		f = c.cat(f, c.byteRange(x, x, false))
	}
	return f
}

// foldedLiteral is a rune of a case-insensitive literal the way RE2's
// parser reads it: a literal with ASCII case folding when its case
// variants are one ASCII letter pair, else the character class of all
// its variants (as for k, whose variants include the Kelvin sign).
func (c *compiler) foldedLiteral(r rune) frag {
	orbit := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	if len(orbit) == 1 {
		return c.literal(r, true)
	}
	lo, hi := min(orbit[0], orbit[1]), max(orbit[0], orbit[1])
	if len(orbit) == 2 && 'A' <= lo && lo <= 'Z' && hi == lo+'a'-'A' {
		return c.literal(hi, true)
	}
	return c.charClass(classOf(orbit))
}

// compile builds the fragment of a simplified expression.
func (c *compiler) compile(re *syntax.Regexp) frag {
	if c.failed {
		return frag{}
	}
	nongreedy := re.Flags&syntax.NonGreedy != 0
	switch re.Op {
	case syntax.OpNoMatch:
		return frag{}
	case syntax.OpEmptyMatch:
		return c.nop()
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return c.nop()
		}
		var f frag
		for i, r := range re.Rune {
			var g frag
			if re.Flags&asciiFold != 0 {
				g = c.literal(unicode.ToLower(r), true)
			} else if re.Flags&syntax.FoldCase != 0 {
				g = c.foldedLiteral(r)
			} else {
				g = c.literal(r, false)
			}
			if i == 0 {
				f = g
			} else {
				f = c.cat(f, g)
			}
		}
		return f
	case syntax.OpCharClass:
		return c.charClass(re.Rune)
	case syntax.OpAnyCharNotNL:
		return c.charClass([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune})
	case syntax.OpAnyChar:
		return c.charClass([]rune{0, unicode.MaxRune})
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return c.emptyWidth()
	case syntax.OpCapture:
		return c.capture(c.compile(re.Sub[0]))
	case syntax.OpStar:
		return c.star(c.compile(re.Sub[0]), nongreedy)
	case syntax.OpPlus:
		return c.plus(c.compile(re.Sub[0]), nongreedy)
	case syntax.OpQuest:
		return c.quest(c.compile(re.Sub[0]), nongreedy)
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return c.nop()
		}
		f := c.compile(re.Sub[0])
		for _, sub := range re.Sub[1:] {
			f = c.cat(f, c.compile(sub))
		}
		return f
	case syntax.OpAlternate:
		f := c.compile(re.Sub[0])
		for _, sub := range re.Sub[1:] {
			f = c.alt(f, c.compile(sub))
		}
		return f
	}
	// OpRepeat is gone after Simplify; anything else is a parser RE2 does
	// not have.
	c.failed = true
	return frag{}
}

// charClass compiles sorted, non-overlapping rune ranges (lo, hi pairs),
// with RE2's ASCII case-folding shortcut: when the class treats A-Z as it
// treats a-z, ranges inside A-Z are dropped and the others fold case.
func (c *compiler) charClass(ranges []rune) frag {
	if len(ranges) == 0 {
		return frag{}
	}
	foldASCII := foldsASCII(ranges)
	c.beginRange()
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if foldASCII && 'A' <= lo && hi <= 'Z' {
			continue
		}
		fold := foldASCII
		if (lo <= 'A' && 'z' <= hi) || hi < 'A' || 'z' < lo || ('Z' < lo && hi < 'a') {
			fold = false
		}
		c.addRuneRange(lo, hi, fold)
	}
	return c.runeFrag
}

// foldsASCII reports whether a class holds each ASCII letter in both
// cases or in neither.
func foldsASCII(ranges []rune) bool {
	var upper, lower uint32
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := max(ranges[i], 'A'); r <= min(ranges[i+1], 'Z'); r++ {
			upper |= 1 << (r - 'A')
		}
		for r := max(ranges[i], 'a'); r <= min(ranges[i+1], 'z'); r++ {
			lower |= 1 << (r - 'a')
		}
	}
	return upper == lower
}

// classOf turns runes into sorted, merged ranges.
func classOf(runes []rune) []rune {
	sorted := append([]rune(nil), runes...)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && sorted[j] < sorted[j-1]; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	var out []rune
	for _, r := range sorted {
		if n := len(out); n > 0 && out[n-1]+1 >= r {
			out[n-1] = max(out[n-1], r)
			continue
		}
		out = append(out, r, r)
	}
	return out
}

func (c *compiler) beginRange() {
	c.runes = map[cacheKey]uint32{}
	c.runeFrag = frag{}
}

func (c *compiler) uncachedSuffix(lo, hi byte, foldcase bool, next uint32) uint32 {
	f := c.byteRange(lo, hi, foldcase)
	if f.begin == 0 {
		return 0
	}
	if next != 0 {
		c.patch(f.end, next)
	} else {
		c.runeFrag.end = c.appendList(c.runeFrag.end, f.end)
	}
	return f.begin
}

func (c *compiler) cachedSuffix(lo, hi byte, foldcase bool, next uint32) uint32 {
	k := cacheKey{next, lo, hi, foldcase}
	if id, ok := c.runes[k]; ok {
		return id
	}
	id := c.uncachedSuffix(lo, hi, foldcase, next)
	c.runes[k] = id
	return id
}

func (c *compiler) isCachedSuffix(id uint32) bool {
	ip := c.inst[id]
	_, ok := c.runes[cacheKey{ip.out, ip.lo, ip.hi, ip.foldcase}]
	return ok
}

func (c *compiler) addSuffix(id uint32) {
	if c.failed || id == 0 {
		c.failed = true
		return
	}
	if c.runeFrag.begin == 0 {
		c.runeFrag.begin = id
		return
	}
	c.runeFrag.begin = c.addSuffixRecursive(c.runeFrag.begin, id)
}

// addSuffixRecursive adds a byte sequence to the trie of a rune range,
// sharing a leading byte range with the last sequence added when they
// start alike (ranges arrive sorted, so only that one can).
func (c *compiler) addSuffixRecursive(root, id uint32) uint32 {
	parent, which, found := c.findByteRange(root, id)
	if !found {
		alt := c.alloc()
		if alt == 0 {
			return 0
		}
		c.inst[alt] = inst{op: opAlt, out: root, out1: id}
		return alt
	}
	var br uint32
	switch which {
	case 0:
		br = root
	case 1:
		br = c.inst[parent].out1
	}
	if c.isCachedSuffix(br) {
		// A cached suffix is shared: clone the head before changing it.
		clone := c.alloc()
		if clone == 0 {
			return 0
		}
		orig := c.inst[br]
		c.inst[clone] = inst{op: opByteRange, lo: orig.lo, hi: orig.hi, foldcase: orig.foldcase, out: orig.out}
		br = clone
		if which == 0 {
			root = br
		} else {
			c.inst[parent].out1 = br
		}
	}
	out := c.inst[id].out
	if !c.isCachedSuffix(id) && int(id) == len(c.inst)-1 {
		// id is the newest instruction: free it rather than leave it unreachable.
		c.inst = c.inst[:len(c.inst)-1]
	}
	out = c.addSuffixRecursive(c.inst[br].out, out)
	if out == 0 {
		return 0
	}
	c.inst[br].out = out
	return root
}

// findByteRange looks for id's byte range at the head of the trie: root
// itself (which 0) or the second branch of root's Alt (which 1).
func (c *compiler) findByteRange(root, id uint32) (parent uint32, which int, found bool) {
	same := func(a, b uint32) bool {
		x, y := c.inst[a], c.inst[b]
		return x.lo == y.lo && x.hi == y.hi && x.foldcase == y.foldcase
	}
	switch c.inst[root].op {
	case opByteRange:
		return root, 0, same(root, id)
	case opAlt:
		return root, 1, same(c.inst[root].out1, id)
	}
	return 0, 0, false
}

// maxRune is the largest rune UTF-8 encodes in n bytes.
func maxRune(n int) rune {
	if n == 1 {
		return 0x7f
	}
	return 1<<(8-(n+1)+6*(n-1)) - 1
}

func (c *compiler) addRuneRange(lo, hi rune, foldcase bool) {
	if lo > hi {
		return
	}
	if lo == 0x80 && hi == 0x10ffff {
		c.add80To10FFFF()
		return
	}
	// Split into ranges of one encoded length.
	for n := 1; n < 4; n++ {
		if m := maxRune(n); lo <= m && m < hi {
			c.addRuneRange(lo, m, foldcase)
			c.addRuneRange(m+1, hi, foldcase)
			return
		}
	}
	if hi < 0x80 {
		c.addSuffix(c.uncachedSuffix(byte(lo), byte(hi), foldcase, 0))
		return
	}
	// Split into ranges that agree on their leading bytes.
	for n := 1; n < 4; n++ {
		m := rune(1)<<(6*n) - 1
		if lo&^m != hi&^m {
			if lo&m != 0 {
				c.addRuneRange(lo, lo|m, foldcase)
				c.addRuneRange((lo|m)+1, hi, foldcase)
				return
			}
			if hi&m != m {
				c.addRuneRange(lo, (hi&^m)-1, foldcase)
				c.addRuneRange(hi&^m, hi, foldcase)
				return
			}
		}
	}
	ulo, uhi := encodeRune(lo), encodeRune(hi)
	n := len(ulo)
	var id uint32
	for i := n - 1; i >= 0; i-- {
		// Forward: the leading byte is not cached, the last continuation
		// byte is, and a byte in between is when it is a range.
		if i == n-1 || (ulo[i] < uhi[i] && i != 0) {
			id = c.cachedSuffix(ulo[i], uhi[i], false, id)
		} else {
			id = c.uncachedSuffix(ulo[i], uhi[i], false, id)
		}
	}
	c.addSuffix(id)
}

// add80To10FFFF is RE2's shortcut for all non-ASCII runes, which allows
// overlong and out-of-range sequences to keep the program small.
func (c *compiler) add80To10FFFF() {
	cont1 := c.uncachedSuffix(0x80, 0xbf, false, 0)
	c.addSuffix(c.uncachedSuffix(0xc2, 0xdf, false, cont1))
	cont2 := c.uncachedSuffix(0x80, 0xbf, false, cont1)
	c.addSuffix(c.uncachedSuffix(0xe0, 0xef, false, cont2))
	cont3 := c.uncachedSuffix(0x80, 0xbf, false, cont2)
	c.addSuffix(c.uncachedSuffix(0xf0, 0xf4, false, cont3))
}

// encodeRune is UTF-8 without Go's replacement of surrogates, as RE2's
// runetochar encodes them.
func encodeRune(r rune) []byte {
	switch {
	case r < 0x80:
		return []byte{byte(r)}
	case r < 0x800:
		return []byte{0xc0 | byte(r>>6), 0x80 | byte(r)&0x3f}
	case r < 0x10000:
		return []byte{0xe0 | byte(r>>12), 0x80 | byte(r>>6)&0x3f, 0x80 | byte(r)&0x3f}
	}
	return []byte{0xf0 | byte(r>>18), 0x80 | byte(r>>12)&0x3f, 0x80 | byte(r>>6)&0x3f, 0x80 | byte(r)&0x3f}
}
