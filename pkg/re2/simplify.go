package re2

import (
	"regexp/syntax"
	"slices"
	"unicode"
)

// The functions below turn Go's parse tree into the tree RE2 compiles.
// Go's parser is a port of RE2's, but its Simplify is not RE2's: RE2
// first coalesces adjacent repetitions of one character (CoalesceWalker
// in re2/simplify.cc), squashes a repetition of a repetition (Regexp::
// StarPlusOrQuest), caps repetitions of empty-width assertions at one,
// and reads a class of one ASCII letter in both cases as a case-folded
// literal (re2/parse.cc). Each difference changes the program's size.

// asciiFold marks a literal made from a class of one ASCII letter in both
// cases ([Kk]): RE2 folds it as an ASCII pair, where Go's (?i)k also
// matches the Kelvin sign. Go's parser leaves this bit unused.
const asciiFold syntax.Flags = 1 << 15

// flagMask are the flags RE2 compares when it squashes repetitions.
const flagMask = syntax.FoldCase | syntax.Literal | syntax.ClassNL | syntax.DotNL | syntax.OneLine | syntax.NonGreedy | syntax.PerlX | syntax.UnicodeGroups

// normalize rewrites the tree the way RE2's parser would have built it:
// [Kk] becomes a case-folded literal, and repetition operators applied
// directly to one another are squashed.
func normalize(re *syntax.Regexp) *syntax.Regexp {
	subs := make([]*syntax.Regexp, len(re.Sub))
	changed := false
	for i, sub := range re.Sub {
		subs[i] = normalize(sub)
		changed = changed || subs[i] != sub
	}
	if changed {
		cp := *re
		cp.Sub = subs
		re = &cp
	}
	switch {
	case re.Op == syntax.OpCharClass && len(re.Rune) == 4 && re.Rune[0] == re.Rune[1] && re.Rune[2] == re.Rune[3] &&
		'A' <= re.Rune[0] && re.Rune[0] <= 'Z' && re.Rune[2] == re.Rune[0]+'a'-'A':
		return &syntax.Regexp{Op: syntax.OpLiteral, Flags: re.Flags | syntax.FoldCase | asciiFold, Rune: []rune{re.Rune[0]}}
	case isRepeatOp(re.Op):
		return repeatOf(re.Op, re.Sub[0], re.Flags)
	}
	return re
}

// repeatOf is RE2's Regexp::StarPlusOrQuest: op of sub, where the same
// operator twice is one and any two different ones are *.
func repeatOf(op syntax.Op, sub *syntax.Regexp, flags syntax.Flags) *syntax.Regexp {
	if isRepeatOp(sub.Op) && sub.Flags&flagMask == flags&flagMask {
		if op == sub.Op || sub.Op == syntax.OpStar {
			return sub
		}
		return &syntax.Regexp{Op: syntax.OpStar, Flags: flags, Sub: []*syntax.Regexp{sub.Sub[0]}}
	}
	return &syntax.Regexp{Op: op, Flags: flags, Sub: []*syntax.Regexp{sub}}
}

func isRepeatOp(op syntax.Op) bool {
	return op == syntax.OpStar || op == syntax.OpPlus || op == syntax.OpQuest
}

// simplify is RE2's Regexp::Simplify: coalesce, then expand counted
// repetitions and settle empty and full classes.
func simplify(re *syntax.Regexp) *syntax.Regexp { return expand(coalesce(re)) }

// coalesce merges, in every concatenation, a repetition of one character
// with what follows it when that is the same character repeated or alone:
// a*a+ is a{1,}, a+aab is a{3,}b.
func coalesce(re *syntax.Regexp) *syntax.Regexp {
	if len(re.Sub) == 0 {
		return re
	}
	subs := make([]*syntax.Regexp, len(re.Sub))
	for i, sub := range re.Sub {
		subs[i] = coalesce(sub)
	}
	cp := *re
	cp.Sub = subs
	if re.Op != syntax.OpConcat {
		return &cp
	}
	merged := false
	for i := 0; i+1 < len(subs); i++ {
		if canCoalesce(subs[i], subs[i+1]) {
			subs[i], subs[i+1] = doCoalesce(subs[i], subs[i+1])
			merged = true
		}
	}
	if merged {
		cp.Sub = slices.DeleteFunc(subs, func(r *syntax.Regexp) bool { return r.Op == syntax.OpEmptyMatch })
	}
	return &cp
}

func isRepetition(op syntax.Op) bool { return isRepeatOp(op) || op == syntax.OpRepeat }

// isChar is RE2's literal (one rune), char class, any char or any byte.
func isChar(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) == 1
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	}
	return false
}

func canCoalesce(r1, r2 *syntax.Regexp) bool {
	if !isRepetition(r1.Op) || !isChar(r1.Sub[0]) {
		return false
	}
	c := r1.Sub[0]
	switch {
	case isRepetition(r2.Op) && equal(c, r2.Sub[0]) && r1.Flags&syntax.NonGreedy == r2.Flags&syntax.NonGreedy:
		return true
	case equal(c, r2):
		return true
	case c.Op == syntax.OpLiteral && r2.Op == syntax.OpLiteral && len(r2.Rune) > 1 && r2.Rune[0] == c.Rune[0] &&
		c.Flags&syntax.FoldCase == r2.Flags&syntax.FoldCase:
		return true
	}
	return false
}

func doCoalesce(r1, r2 *syntax.Regexp) (*syntax.Regexp, *syntax.Regexp) {
	n := &syntax.Regexp{Op: syntax.OpRepeat, Flags: r1.Flags, Sub: []*syntax.Regexp{r1.Sub[0]}}
	switch r1.Op {
	case syntax.OpStar:
		n.Min, n.Max = 0, -1
	case syntax.OpPlus:
		n.Min, n.Max = 1, -1
	case syntax.OpQuest:
		n.Min, n.Max = 0, 1
	default:
		n.Min, n.Max = r1.Min, r1.Max
	}
	empty := &syntax.Regexp{Op: syntax.OpEmptyMatch}
	switch {
	case r2.Op == syntax.OpStar:
		n.Max = -1
	case r2.Op == syntax.OpPlus:
		n.Min++
		n.Max = -1
	case r2.Op == syntax.OpQuest:
		if n.Max != -1 {
			n.Max++
		}
	case r2.Op == syntax.OpRepeat:
		n.Min += r2.Min
		if r2.Max == -1 {
			n.Max = -1
		} else if n.Max != -1 {
			n.Max += r2.Max
		}
	case r2.Op == syntax.OpLiteral && len(r2.Rune) > 1:
		r := r1.Sub[0].Rune[0]
		k := 1
		for k < len(r2.Rune) && r2.Rune[k] == r {
			k++
		}
		n.Min += k
		if n.Max != -1 {
			n.Max += k
		}
		if k < len(r2.Rune) {
			rest := *r2
			rest.Rune = r2.Rune[k:]
			return n, &rest
		}
	default: // the character itself
		n.Min++
		if n.Max != -1 {
			n.Max++
		}
	}
	return empty, n
}

// equal is RE2's Regexp::Equal.
func equal(a, b *syntax.Regexp) bool {
	if a.Op != b.Op || len(a.Sub) != len(b.Sub) {
		return false
	}
	switch a.Op {
	case syntax.OpEndText:
		if (a.Flags^b.Flags)&syntax.WasDollar != 0 {
			return false
		}
	case syntax.OpLiteral:
		if (a.Flags^b.Flags)&syntax.FoldCase != 0 || !slices.Equal(a.Rune, b.Rune) {
			return false
		}
	case syntax.OpCharClass:
		if !slices.Equal(a.Rune, b.Rune) {
			return false
		}
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		if (a.Flags^b.Flags)&syntax.NonGreedy != 0 {
			return false
		}
	case syntax.OpRepeat:
		if (a.Flags^b.Flags)&syntax.NonGreedy != 0 || a.Min != b.Min || a.Max != b.Max {
			return false
		}
	case syntax.OpCapture:
		if a.Cap != b.Cap || a.Name != b.Name {
			return false
		}
	}
	for i := range a.Sub {
		if !equal(a.Sub[i], b.Sub[i]) {
			return false
		}
	}
	return true
}

// expand is RE2's SimplifyWalker: it expands counted repetition (x{2,5}
// is xx(x(x(x)?)?)?), drops repetitions of the empty string, caps those
// of empty-width assertions at one, and turns empty and full classes
// into no match and any character.
func expand(re *syntax.Regexp) *syntax.Regexp {
	switch re.Op {
	case syntax.OpCharClass:
		switch {
		case len(re.Rune) == 0:
			return &syntax.Regexp{Op: syntax.OpNoMatch, Flags: re.Flags}
		case len(re.Rune) == 2 && re.Rune[0] == 0 && re.Rune[1] == unicode.MaxRune:
			return &syntax.Regexp{Op: syntax.OpAnyChar, Flags: re.Flags}
		}
		return re
	case syntax.OpConcat, syntax.OpAlternate, syntax.OpCapture:
		cp := *re
		cp.Sub = make([]*syntax.Regexp, len(re.Sub))
		for i, sub := range re.Sub {
			cp.Sub[i] = expand(sub)
		}
		return &cp
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		sub := expand(re.Sub[0])
		if sub.Op == syntax.OpEmptyMatch {
			return sub
		}
		if sub.Op == re.Op && sub.Flags&flagMask == re.Flags&flagMask {
			return sub
		}
		return &syntax.Regexp{Op: re.Op, Flags: re.Flags, Sub: []*syntax.Regexp{sub}}
	case syntax.OpRepeat:
		sub := expand(re.Sub[0])
		if sub.Op == syntax.OpEmptyMatch {
			return sub
		}
		return expandRepeat(sub, re.Min, re.Max, re.Flags)
	}
	return re
}

func isEmptyOp(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpBeginText, syntax.OpEndText:
		return true
	}
	return false
}

func expandRepeat(x *syntax.Regexp, lo, hi int, flags syntax.Flags) *syntax.Regexp {
	if isEmptyOp(x) || (x.Op == syntax.OpConcat || x.Op == syntax.OpAlternate) && len(x.Sub) > 0 && !slices.ContainsFunc(x.Sub, func(s *syntax.Regexp) bool { return !isEmptyOp(s) }) {
		lo, hi = min(lo, 1), min(hi, 1)
	}
	concat := func(subs ...*syntax.Regexp) *syntax.Regexp {
		if len(subs) == 1 {
			return subs[0]
		}
		return &syntax.Regexp{Op: syntax.OpConcat, Flags: flags, Sub: subs}
	}
	if hi == -1 {
		switch lo {
		case 0:
			return repeatOf(syntax.OpStar, x, flags)
		case 1:
			return repeatOf(syntax.OpPlus, x, flags)
		}
		subs := make([]*syntax.Regexp, lo)
		for i := range lo - 1 {
			subs[i] = x
		}
		subs[lo-1] = repeatOf(syntax.OpPlus, x, flags)
		return concat(subs...)
	}
	if lo == 0 && hi == 0 {
		return &syntax.Regexp{Op: syntax.OpEmptyMatch, Flags: flags}
	}
	if lo == 1 && hi == 1 {
		return x
	}
	var out *syntax.Regexp
	if lo > 0 {
		subs := make([]*syntax.Regexp, lo)
		for i := range subs {
			subs[i] = x
		}
		out = concat(subs...)
	}
	if hi > lo {
		suffix := repeatOf(syntax.OpQuest, x, flags)
		for i := lo + 1; i < hi; i++ {
			suffix = repeatOf(syntax.OpQuest, &syntax.Regexp{Op: syntax.OpConcat, Flags: flags, Sub: []*syntax.Regexp{x, suffix}}, flags)
		}
		if out == nil {
			out = suffix
		} else {
			out = &syntax.Regexp{Op: syntax.OpConcat, Flags: flags, Sub: []*syntax.Regexp{out, suffix}}
		}
	}
	if out == nil {
		return &syntax.Regexp{Op: syntax.OpNoMatch, Flags: flags}
	}
	return out
}
