package re2

import "strings"

// isolateAlternatives returns pattern with an empty group (?:) closing
// every alternative of every alternation, and whether it added any.
//
// Go's parser merges adjacent single-character alternatives into one
// class as it reads them (a|b|\pL becomes [ab\pL], and \pN|\pN one \pN);
// RE2's parser does not (it factors identical alternatives instead), so
// Go's tree can compile to a much smaller program than RE2's. With every
// alternative ending in an empty group, no alternative is a single
// character any more and Go keeps them apart as RE2 would; the empty
// groups compile to no-ops that flattening drops. ProgramSize counts both
// forms and keeps the larger, which can only err towards refusing.
func isolateAlternatives(pattern string) (string, bool) {
	if !strings.Contains(pattern, "|") {
		return pattern, false
	}
	var b strings.Builder
	// alternated[i] says whether the group open at depth i has a bar.
	alternated := []bool{false}
	changed := false
	for i := 0; i < len(pattern); i++ {
		ch := pattern[i]
		switch ch {
		case '\\':
			end := escapeEnd(pattern, i)
			b.WriteString(pattern[i:end])
			i = end - 1
			continue
		case '[':
			end := classEnd(pattern, i)
			b.WriteString(pattern[i:end])
			i = end - 1
			continue
		case '(':
			alternated = append(alternated, false)
		case '|':
			alternated[len(alternated)-1] = true
			b.WriteString("(?:)")
			changed = true
		case ')':
			if len(alternated) > 1 {
				if alternated[len(alternated)-1] {
					b.WriteString("(?:)")
				}
				alternated = alternated[:len(alternated)-1]
			}
		}
		b.WriteByte(ch)
	}
	if alternated[0] {
		b.WriteString("(?:)")
	}
	return b.String(), changed
}

// escapeEnd returns the index just past the escape starting at i: \Q..\E
// quotes, \x{...} and \p{...} take braces, else one character.
func escapeEnd(p string, i int) int {
	if i+1 >= len(p) {
		return len(p)
	}
	switch p[i+1] {
	case 'Q':
		if e := strings.Index(p[i+2:], `\E`); e >= 0 {
			return i + 2 + e + 2
		}
		return len(p)
	case 'x', 'p', 'P':
		if i+2 < len(p) && p[i+2] == '{' {
			if e := strings.IndexByte(p[i+2:], '}'); e >= 0 {
				return i + 2 + e + 1
			}
			return len(p)
		}
		if p[i+1] == 'x' {
			return min(len(p), i+4)
		}
		return min(len(p), i+3)
	}
	// One character, which may take several bytes.
	j := i + 2
	for j < len(p) && p[j]&0xc0 == 0x80 {
		j++
	}
	return j
}

// classEnd returns the index just past the character class starting at
// i: a ] right after [ or [^ is a member, [:name:] is one, and escapes
// are skipped.
func classEnd(p string, i int) int {
	j := i + 1
	if j < len(p) && p[j] == '^' {
		j++
	}
	if j < len(p) && p[j] == ']' {
		j++
	}
	for j < len(p) {
		switch {
		case p[j] == '\\':
			j = escapeEnd(p, j)
		case strings.HasPrefix(p[j:], "[:"):
			if e := strings.Index(p[j+2:], ":]"); e >= 0 {
				j += 2 + e + 2
			} else {
				j++
			}
		case p[j] == ']':
			return j + 1
		default:
			j++
		}
	}
	return len(p)
}
