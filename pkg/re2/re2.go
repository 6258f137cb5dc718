package re2

import (
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode"
)

// Program size limits Envoy applies.
const (
	// EnvoyDefaultMaxProgramSize is Envoy's default for the runtime key
	// re2.max_program_size.error_level, in a bootstrap that sets none.
	EnvoyDefaultMaxProgramSize = 100
	// IstioMaxProgramSize is what Istio's bootstrap sets it to for every
	// istio-proxy (sidecars, gateways, istiod-managed waypoints).
	IstioMaxProgramSize = 32768
	// RuntimeKey is the Envoy runtime key that holds the limit.
	RuntimeKey = "re2.max_program_size.error_level"
)

// maxRepeat is RE2's limit on counted repetition, nested counts multiplied.
const maxRepeat = 1000

// maxInst bounds the instructions compiled, as RE2's memory budget does
// (its default 8 MiB of program memory holds some 700,000).
const maxInst = 1 << 20

// ProgramSize returns the size RE2 gives pattern's compiled program (what
// Envoy compares with re2.max_program_size.error_level), or an error when
// RE2 would not compile pattern at all.
func ProgramSize(pattern string) (int, error) {
	n, err := programSize(pattern)
	if err != nil {
		return 0, err
	}
	if isolated, ok := isolateAlternatives(pattern); ok {
		if m, err := programSize(isolated); err == nil && m > n {
			return m, nil
		}
	}
	return n, nil
}

func programSize(pattern string) (int, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0, err
	}
	if repetitionBudget(re, maxRepeat) == 0 {
		return 0, fmt.Errorf("nested repetition counts multiply to more than %d, which RE2 refuses", maxRepeat)
	}
	re = simplify(requiredPrefix(normalize(re)))
	re, anchorStart := anchorStart(re, 0)
	re, _ = anchorEnd(re, 0)

	c := newCompiler(maxInst)
	all := c.compile(re)
	all = c.cat(all, c.match())
	start, unanchored := all.begin, all.begin
	if !anchorStart {
		// Unanchored programs start with a non-greedy .* over bytes.
		all = c.cat(c.star(c.byteRange(0x00, 0xff, false), true), all)
		unanchored = all.begin
	}
	if c.failed {
		return 0, fmt.Errorf("the expression compiles to more than %d instructions", maxInst)
	}
	if start == 0 && unanchored == 0 {
		return 1, nil // matches nothing: the fail instruction alone
	}
	p := &prog{inst: c.inst, start: start, unanchored: unanchored}
	p.optimize()
	return p.flatten(), nil
}

// AlternationMargin is how much larger than ProgramSize RE2's count of an
// expression with alternatives may be (see the package doc): Check
// refuses such an expression when its size times this margin passes the
// limit, so that it errs towards refusing.
const AlternationMargin = 1.25

// Check returns an error saying why Envoy would refuse pattern: not RE2,
// or a program larger than max.
func Check(pattern string, max int) error {
	n, err := ProgramSize(pattern)
	if err != nil {
		return fmt.Errorf("invalid RE2 regular expression %q: %v", pattern, err)
	}
	if n > max {
		return fmt.Errorf("regex %q compiles to an RE2 program of size %d, over the proxy's limit of %d (Envoy's runtime key %s), so Envoy would refuse the config that carries it; simplify it (fewer counted repetitions, shorter alternatives) or raise the limit", pattern, n, max, RuntimeKey)
	}
	if strings.Contains(pattern, "|") && float64(n)*AlternationMargin > float64(max) {
		return fmt.Errorf("regex %q compiles to an RE2 program of size about %d, too close to the proxy's limit of %d (Envoy's runtime key %s) to be sure Envoy takes it (for alternations aeraki's count can be up to %d%% below RE2's); simplify it or raise the limit", pattern, n, max, RuntimeKey, int((AlternationMargin-1)*100))
	}
	return nil
}

// repetitionBudget is RE2's RepetitionWalker: it divides the budget by
// each counted repetition's count on the way down and returns the
// smallest remainder; 0 means the nesting multiplies past the budget.
func repetitionBudget(re *syntax.Regexp, budget int) int {
	if re.Op == syntax.OpRepeat {
		m := re.Max
		if m < 0 {
			m = re.Min
		}
		if m > 0 {
			budget /= m
		}
	}
	least := budget
	for _, sub := range re.Sub {
		least = min(least, repetitionBudget(sub, budget))
	}
	return least
}

// requiredPrefix drops the literal that follows leading \A anchors, as
// RE2 does before compiling (RE2::Init, Regexp::RequiredPrefix): it
// matches that prefix with a string comparison and compiles only the rest,
// unanchored. The literal is the one RE2's parser makes: with (?i), it
// ends before the first rune whose case variants are not one ASCII pair
// (RE2 makes that rune a character class).
func requiredPrefix(re *syntax.Regexp) *syntax.Regexp {
	if re.Op != syntax.OpConcat {
		return re
	}
	i := 0
	for i < len(re.Sub) && re.Sub[i].Op == syntax.OpBeginText {
		i++
	}
	if i == 0 || i >= len(re.Sub) || re.Sub[i].Op != syntax.OpLiteral {
		return re
	}
	lit := re.Sub[i]
	n := len(lit.Rune)
	if lit.Flags&syntax.FoldCase != 0 && lit.Flags&asciiFold == 0 {
		n = 0
		for n < len(lit.Rune) && simpleFold(lit.Rune[n]) {
			n++
		}
		if n == 0 {
			return re
		}
	}
	var rest []*syntax.Regexp
	if n < len(lit.Rune) {
		cp := *lit
		cp.Rune = lit.Rune[n:]
		rest = append(rest, &cp)
	}
	rest = append(rest, re.Sub[i+1:]...)
	switch len(rest) {
	case 0:
		return &syntax.Regexp{Op: syntax.OpEmptyMatch, Flags: re.Flags}
	case 1:
		return rest[0]
	}
	cp := *re
	cp.Sub = rest
	return &cp
}

// simpleFold reports whether RE2's parser keeps r in a case-insensitive
// literal: r has no other case, or exactly one ASCII letter pair.
func simpleFold(r rune) bool {
	f := unicode.SimpleFold(r)
	if f == r {
		return true
	}
	if unicode.SimpleFold(f) != r {
		return false
	}
	lo, hi := min(r, f), max(r, f)
	return 'A' <= lo && lo <= 'Z' && hi == lo+'a'-'A'
}

// anchorStart removes a leading \A (^ without (?m)) the way RE2 records
// an anchored program: looking through concatenations and captures, at
// most four levels deep.
func anchorStart(re *syntax.Regexp, depth int) (*syntax.Regexp, bool) {
	return anchor(re, depth, syntax.OpBeginText, func(subs []*syntax.Regexp) int { return 0 })
}

// anchorEnd removes a trailing \z ($ without (?m)) likewise.
func anchorEnd(re *syntax.Regexp, depth int) (*syntax.Regexp, bool) {
	return anchor(re, depth, syntax.OpEndText, func(subs []*syntax.Regexp) int { return len(subs) - 1 })
}

func anchor(re *syntax.Regexp, depth int, op syntax.Op, pick func([]*syntax.Regexp) int) (*syntax.Regexp, bool) {
	if re == nil || depth >= 4 {
		return re, false
	}
	switch re.Op {
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return re, false
		}
		i := pick(re.Sub)
		sub, ok := anchor(re.Sub[i], depth+1, op, pick)
		if !ok {
			return re, false
		}
		cp := *re
		cp.Sub = append([]*syntax.Regexp(nil), re.Sub...)
		cp.Sub[i] = sub
		return &cp, true
	case syntax.OpCapture:
		sub, ok := anchor(re.Sub[0], depth+1, op, pick)
		if !ok {
			return re, false
		}
		cp := *re
		cp.Sub = []*syntax.Regexp{sub}
		return &cp, true
	case op:
		return &syntax.Regexp{Op: syntax.OpLiteral, Flags: re.Flags}, true // an empty literal: a no-op
	}
	return re, false
}
