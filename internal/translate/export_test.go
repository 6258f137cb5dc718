package translate

// For the tests of the direct Struct conversion (structconv_test.go).
var (
	StructOf     = structOf
	StructByJSON = toStructJSON
)
