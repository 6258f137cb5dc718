package re2

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestProgramSizeMatchesRE2 compares ProgramSize with the sizes RE2 itself
// reports (testdata/re2size.tsv): equal for expressions without
// alternatives, and never so low that Check would let through one RE2
// finds too large for expressions with them.
func TestProgramSizeMatchesRE2(t *testing.T) {
	f, err := os.Open("testdata/re2size.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	rows, exact := 0, 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		size, pattern, _ := strings.Cut(line, "\t")
		want, err := strconv.Atoi(size)
		if err != nil {
			t.Fatalf("bad row %q", line)
		}
		rows++
		got, err := ProgramSize(pattern)
		if err != nil {
			t.Errorf("%q: %v; RE2 compiles it to %d", pattern, err, want)
			continue
		}
		if got == want {
			exact++
		}
		if !strings.Contains(pattern, "|") {
			if got != want {
				t.Errorf("%q: ProgramSize %d, RE2 %d", pattern, got, want)
			}
			continue
		}
		if Check(pattern, want-1) == nil {
			t.Errorf("%q: RE2's size is %d, but Check lets it through a limit of %d (ProgramSize %d)", pattern, want, want-1, got)
		}
	}
	if rows < 500 {
		t.Fatalf("only %d rows in the table", rows)
	}
	t.Logf("%d of %d sizes equal RE2's", exact, rows)
}

// TestKnownSizes are sizes Envoy users have seen in its error messages
// and the cases the issue named.
func TestKnownSizes(t *testing.T) {
	for pattern, want := range map[string]int{
		"a":        5,
		"a{1000}":  1004,
		"/asdf/.*": 18,
		// "RE2 program size of 106 > max program size of 100", reported
		// by Envoy for this route regex.
		"^/user/(488/sms|h5/getJwt|captcha|version/getAIDrawTemplate|version/isMainLand|version/promotionTemplate|version/activityTemplate2).*": 106,
	} {
		if got, err := ProgramSize(pattern); err != nil || got != want {
			t.Errorf("%q: got %d, %v; want %d", pattern, got, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := Check("a{1000}", EnvoyDefaultMaxProgramSize); err == nil || !strings.Contains(err.Error(), "1004") || !strings.Contains(err.Error(), RuntimeKey) {
		t.Errorf("a{1000} against Envoy's default: want an error naming the size and the runtime key, got %v", err)
	}
	if err := Check("a{1000}", IstioMaxProgramSize); err != nil {
		t.Errorf("a{1000} fits Istio's limit: %v", err)
	}
	if err := Check("^say(Hello|Hi)$", EnvoyDefaultMaxProgramSize); err != nil {
		t.Errorf("a small alternation: %v", err)
	}
	// RE2 refuses nested counts that multiply past 1000 (Go's parser
	// refuses some of them too).
	for _, p := range []string{"(a{100}){100}", "(?:a{1000}){33}", "((a{10}){10}){11}", "(?:a{500}){3}"} {
		if err := Check(p, IstioMaxProgramSize); err == nil || !strings.Contains(err.Error(), "repe") {
			t.Errorf("%q: want RE2's repetition limit, got %v", p, err)
		}
	}
	if err := Check("(a", IstioMaxProgramSize); err == nil || !strings.Contains(err.Error(), "invalid RE2") {
		t.Errorf("a syntax error: got %v", err)
	}
}

func TestIsolateAlternatives(t *testing.T) {
	for in, want := range map[string]string{
		"a|b":           "a(?:)|b(?:)",
		"x(a|b)y":       "x(a(?:)|b(?:))y",
		`[|(]|\||\Q|\E`: `[|(](?:)|\|(?:)|\Q|\E(?:)`,
		"(?i)a|(?:b)":   "(?i)a(?:)|(?:b)(?:)",
		"ab":            "ab",
	} {
		if got, _ := isolateAlternatives(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
