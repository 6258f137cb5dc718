// Package re2 measures a regular expression the way Envoy's RE2 engine
// does, so that aeraki refuses on the object a regex Envoy would refuse.
//
// Envoy compiles every safe_regex with RE2 and rejects the whole resource
// when the compiled program is larger than the runtime key
// `re2.max_program_size.error_level` (default 100; see Envoy's
// source/common/common/regex.cc, CompiledGoogleReMatcher). Istio's
// bootstrap raises it to 32768 (istio/istio pkg/bootstrap/config.go,
// extractRuntimeFlags), so sidecars and istiod-managed waypoints accept
// what a stock Envoy does not. A regex that is valid Go syntax but too big
// (`a{1000}` is 1004 instructions) would otherwise be emitted and make the
// proxy refuse the listener or route that carries it.
//
// # How the size is counted, and how close it is
//
// RE2's ProgramSize is the number of instructions of the forward program
// after compilation (re2/compile.cc) and flattening (re2/prog.cc,
// Prog::Flatten). ProgramSize rebuilds that program: it parses with Go's
// regexp/syntax (a port of RE2's parser, with the same factoring of
// alternations and the same expansion of counted repetition in
// Simplify), then compiles the tree the way RE2's compiler does: UTF-8
// byte ranges instead of runes, with RE2's suffix caching and prefix trie
// for character classes, its folding of ASCII case, its anchor removal and
// `.*?` prefix for unanchored programs, its no-op elision and its
// flattening of alternations into lists. It also applies RE2's parse-time
// limit on nested repetition (the product of nested counts may not pass
// 1000), which Go's parser does not have.
//
// The count equals RE2's for the expressions in testdata/re2size.tsv,
// measured with libre2 (see that file's header for the version and the
// command). Where the two parsers differ, the count can only be higher:
// RE2's Simplify also coalesces adjacent repetitions of the same
// expression (`a*a+` to `a+`), which ProgramSize does not, so it counts
// the uncoalesced, larger program. Erring on that side means aeraki may
// refuse a regex just under the limit that Envoy would take, never emit
// one that Envoy refuses.
package re2
