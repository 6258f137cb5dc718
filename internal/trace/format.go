package trace

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	sfsvaluev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
)

// filterState is a connection's (or stream's) filter state: object key
// to value, with how far upstream each is shared.
type filterState map[string]stateEntry

type stateEntry struct {
	value   string
	sharing sfsvaluev3.FilterStateValue_SharedWithUpstream
}

// upstream is the filter state an upstream connection starts with: ONCE
// entries arrive but are not shared further, TRANSITIVE ones keep
// travelling, the rest stay behind.
func (fs filterState) upstream() filterState {
	out := filterState{}
	for k, e := range fs {
		switch e.sharing {
		case sfsvaluev3.FilterStateValue_ONCE:
			out[k] = stateEntry{value: e.value, sharing: sfsvaluev3.FilterStateValue_NONE}
		case sfsvaluev3.FilterStateValue_TRANSITIVE:
			out[k] = e
		}
	}
	return out
}

func (fs filterState) clone() filterState {
	out := make(filterState, len(fs))
	for k, e := range fs {
		out[k] = e
	}
	return out
}

func (fs filterState) get(key string) (string, bool) {
	e, ok := fs[key]
	return e.value, ok
}

// String lists the entries, for hop details.
func (fs filterState) String() string {
	keys := make([]string, 0, len(fs))
	for k := range fs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + fs[k].value
	}
	return strings.Join(parts, ", ")
}

// setValues applies set_filter_state values: each format string is
// evaluated on c and stored under its key with its sharing mode.
func setValues(fs filterState, values []*sfsvaluev3.FilterStateValue, c *conn) ([]string, error) {
	var set []string
	for _, v := range values {
		key := v.GetObjectKey()
		if key == "" {
			return nil, fmt.Errorf("set_filter_state value without object_key is not simulated")
		}
		text, err := formatSource(v.GetFormatString())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		val, err := format(text, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if val == "" && v.GetSkipIfEmpty() {
			continue
		}
		fs[key] = stateEntry{value: val, sharing: v.GetSharedWithUpstream()}
		set = append(set, fmt.Sprintf("%s=%s (shared %s)", key, val, v.GetSharedWithUpstream()))
	}
	return set, nil
}

func formatSource(f *corev3.SubstitutionFormatString) (string, error) {
	switch {
	case f.GetTextFormatSource().GetInlineString() != "":
		return f.GetTextFormatSource().GetInlineString(), nil
	case f.GetTextFormat() != "":
		return f.GetTextFormat(), nil
	}
	return "", fmt.Errorf("only inline text format strings are simulated")
}

var commandRE = regexp.MustCompile(`%([A-Z_]+)(\(([^)]*)\))?%`)

// format evaluates the substitution format commands the generated config
// uses, on connection c.
func format(text string, c *conn) (string, error) {
	var err error
	out := commandRE.ReplaceAllStringFunc(text, func(cmd string) string {
		m := commandRE.FindStringSubmatch(cmd)
		v, e := command(m[1], m[3], c)
		if e != nil && err == nil {
			err = e
		}
		return v
	})
	return out, err
}

func command(name, arg string, c *conn) (string, error) {
	switch name {
	case "DOWNSTREAM_LOCAL_ADDRESS":
		if !c.dst.IsValid() {
			return "", fmt.Errorf("%%DOWNSTREAM_LOCAL_ADDRESS%% is an internal address here (nothing restored it)")
		}
		return c.dst.String(), nil
	case "DOWNSTREAM_REMOTE_ADDRESS":
		if !c.src.IsValid() {
			return "", fmt.Errorf("%%DOWNSTREAM_REMOTE_ADDRESS%% is an internal address here (nothing restored it)")
		}
		return c.src.String(), nil
	case "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":
		return c.dst.Addr().String(), nil
	case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
		return c.src.Addr().String(), nil
	case "DOWNSTREAM_LOCAL_PORT":
		return strconv.Itoa(int(c.dst.Port())), nil
	case "REQ":
		if strings.EqualFold(arg, ":authority") && c.connect != nil {
			return c.connect.authority, nil
		}
		if c.connect != nil {
			name, _, _ := strings.Cut(arg, ":") // %REQ(header):max_length%
			if v, ok := c.connect.headers[strings.ToLower(name)]; ok {
				return v, nil
			}
			if c.connect.headers != nil {
				return "", nil // Envoy prints "-" for an absent header; empty here
			}
		}
		return "", fmt.Errorf("%%REQ(%s)%% is not available in this simulation", arg)
	case "DOWNSTREAM_PEER_URI_SAN":
		return c.peer, nil // empty without a verified client certificate
	case "FILTER_STATE":
		key, _, _ := strings.Cut(arg, ":")
		v, _ := c.state.get(key)
		return v, nil
	}
	return "", fmt.Errorf("format command %%%s%% is not simulated", name)
}
