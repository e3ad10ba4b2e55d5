package topology

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

const schemaPath = "../docs/nslab.schema.json"

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	return s
}

// TestSchemaKeys checks that the schema knows exactly the keys the parser
// accepts, object by object, and closes every object.
func TestSchemaKeys(t *testing.T) {
	s := loadSchema(t)
	defs := s["$defs"].(map[string]any)
	objects := map[string]any{"": s}
	for name, d := range defs {
		if _, ok := d.(map[string]any)["properties"]; ok {
			objects[name] = d
		}
	}
	want := formatKeys()
	if diff := cmp.Diff(slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(objects))); diff != "" {
		t.Errorf("objects with properties in the schema differ from the parser's (-parser +schema):\n%s", diff)
	}
	for name, keys := range want {
		obj, ok := objects[name].(map[string]any)
		if !ok {
			continue
		}
		props := slices.Sorted(maps.Keys(obj["properties"].(map[string]any)))
		if diff := cmp.Diff(keys, props); diff != "" {
			t.Errorf("keys of %q differ (-parser +schema):\n%s", name, diff)
		}
		if obj["additionalProperties"] != false {
			t.Errorf("%q: additionalProperties is not false", name)
		}
	}
	walkSchema(t, s, "#", func(path string, m map[string]any) {
		if _, ok := m["properties"]; ok && path != "#" && !strings.HasPrefix(path, "#/$defs/") {
			t.Errorf("%s: an object with properties outside $defs escapes the key check", path)
		}
	})
	for name, obj := range objects {
		for k, p := range obj.(map[string]any)["properties"].(map[string]any) {
			if description(s, p.(map[string]any)) == "" {
				t.Errorf("%q: key %s has no description for editors", name, k)
			}
		}
	}
}

// description returns the description of a schema, or of its $ref.
func description(root, sch map[string]any) string {
	if d, ok := sch["description"].(string); ok {
		return d
	}
	if ref, ok := sch["$ref"].(string); ok {
		return description(root, resolveRef(root, ref))
	}
	return ""
}

func walkSchema(t *testing.T, v any, path string, f func(string, map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(path, v)
		for k, e := range v {
			if k != "properties" || path == "#" || strings.HasPrefix(path, "#/$defs/") {
				walkSchema(t, e, path+"/"+k, f)
			}
		}
	case []any:
		for i, e := range v {
			walkSchema(t, e, fmt.Sprintf("%s/%d", path, i), f)
		}
	}
}

// TestSchemaNames checks the schema's name rules against the parser's.
func TestSchemaNames(t *testing.T) {
	s := loadSchema(t)
	samples := []string{"a", "A1", "ns-1", "n_1", "_x", "-x", ".x", "x.y", "x..y", "a/b", "a b", "ünï", "host", "lo",
		"all", "default", "eth0", "eth0:1", strings.Repeat("a", 15), strings.Repeat("a", 16), strings.Repeat("a", 24),
		strings.Repeat("a", 25), strings.Repeat("a", 32), strings.Repeat("a", 33), ""}
	rules := map[string]func(string) error{
		"#/properties/name":            ValidLabName,
		"#/$defs/nodeName":             ValidNodeName,
		"#/$defs/bridgeName":           ValidBridgeName,
		"#/$defs/ifName":               ValidInterfaceName,
		"#/$defs/route/properties/dev": ValidInterfaceName,
		"#/$defs/serviceName":          ValidServiceName,
	}
	for ref, valid := range rules {
		for _, name := range samples {
			schemaOK := validate(s, resolveRef(s, ref), name) == nil
			if parserOK := valid(name) == nil; schemaOK != parserOK {
				t.Errorf("%s: %q: schema accepts: %v, parser accepts: %v", ref, name, schemaOK, parserOK)
			}
		}
	}
}

// TestSchemaGoodFiles validates the good testdata files against the schema.
func TestSchemaGoodFiles(t *testing.T) {
	s := loadSchema(t)
	for _, path := range testFiles(t, "good") {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := validate(s, s, v); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// TestSchemaRejects checks that the schema rejects typical mistakes.
func TestSchemaRejects(t *testing.T) {
	s := loadSchema(t)
	for _, doc := range []string{
		"nodse: {}",
		"version: 2",
		"nodes: {a: {interfaces: {eth0: {lnk: br0}}}}",
		"nodes: {a: {interfaces: {eth0: {mtu: 67}}}}",
		"nodes: {a: {routes: [{to: default}]}}",
		"nodes: {a: {sysctls: {kernel.x: 1}}}",
		"host: {interfaces: {up: {link: br0}}}",
		"bridges: {br0: {addresses: {a: 1}}}",
		"bridges: {br0: {link: n1:eth0}}",
		"nodes: {a: {services: {x: {cmd: ls}}}}",
		"nodes: {a: {services: {x: {env: {A: 1}}}}}",
		"nodes: {a: {services: {x: []}}}",
		"nodes: {a: {services: {x/y: ls}}}",
		"nodes: {a: {services: {x: {command: ls, restart: sometimes}}}}",
		"nodes: {a: {services: {x: {command: ls, restart: true}}}}",
		"nodes: {a: {services: {x: {command: ls, ready: {timeout: 1s}}}}}",
		"nodes: {a: {services: {x: {command: ls, ready: {tcp: 1, http: 'http://127.0.0.1/'}}}}}",
		"nodes: {a: {services: {x: {command: ls, ready: {tcp: 70000}}}}}",
		"nodes: {a: {services: {x: {command: ls, ready: {http: 'https://127.0.0.1/'}}}}}",
		"nodes: {a: {services: {x: {command: ls, ready: {tcp: 80, timeout: 30}}}}}",
		"nodes: {a: {services: {x: {command: ls, stop: {signal: STOP}}}}}",
		"nodes: {a: {services: {x: {command: ls, stop: 15}}}}",
		"nodes: {a: {services: {x: {command: ls, dir: rel}}}}",
		"nodes: {a: {services: {x: {command: ls, env: {1A: x}}}}}",
		"nodes: {a: {services: {x: {command: ls, after: [a/b/c]}}}}",
	} {
		var v any
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if validate(s, s, v) == nil {
			t.Errorf("schema accepts %s", doc)
		}
	}
}

// validate checks v against the schema sch, a small subset of JSON
// Schema 2020-12: what docs/nslab.schema.json uses.
func validate(root, sch map[string]any, v any) error {
	if ref, ok := sch["$ref"].(string); ok {
		if err := validate(root, resolveRef(root, ref), v); err != nil {
			return err
		}
	}
	for _, check := range []func(map[string]any, map[string]any, any) error{
		checkType, checkConst, checkString, checkNumber, checkObject, checkArray, checkCombinators,
	} {
		if err := check(root, sch, v); err != nil {
			return err
		}
	}
	return nil
}

func resolveRef(root map[string]any, ref string) map[string]any {
	var cur any = root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		cur = cur.(map[string]any)[part]
	}
	return cur.(map[string]any)
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case int, int64, uint64:
		return "integer"
	}
	return fmt.Sprintf("%T", v)
}

func checkType(_, sch map[string]any, v any) error {
	t, ok := sch["type"]
	if !ok {
		return nil
	}
	types := []any{t}
	if list, isList := t.([]any); isList {
		types = list
	}
	got := jsonType(v)
	for _, want := range types {
		if want == got || want == "number" && got == "integer" {
			return nil
		}
	}
	return fmt.Errorf("%v: type %s, want %v", v, got, t)
}

func checkConst(_, sch map[string]any, v any) error {
	if c, ok := sch["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		return fmt.Errorf("%v is not %v", v, c)
	}
	if e, ok := sch["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return fmt.Sprint(x) == fmt.Sprint(v) }) {
		return fmt.Errorf("%v is not one of %v", v, e)
	}
	return nil
}

func checkString(_, sch map[string]any, v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if p, ok := sch["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
		return fmt.Errorf("%q does not match %s", s, p)
	}
	if m, ok := sch["maxLength"].(float64); ok && float64(len([]rune(s))) > m {
		return fmt.Errorf("%q is longer than %v", s, m)
	}
	return nil
}

func checkNumber(_, sch map[string]any, v any) error {
	var f float64
	switch n := v.(type) {
	case uint64:
		f = float64(n)
	case int64:
		f = float64(n)
	case int:
		f = float64(n)
	case float64:
		f = n
	default:
		return nil
	}
	if lo, ok := sch["minimum"].(float64); ok && f < lo {
		return fmt.Errorf("%v < %v", f, lo)
	}
	if hi, ok := sch["maximum"].(float64); ok && f > hi {
		return fmt.Errorf("%v > %v", f, hi)
	}
	return nil
}

func checkObject(root, sch map[string]any, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for _, r := range asList(sch["required"]) {
		if _, ok := obj[r.(string)]; !ok {
			return fmt.Errorf("missing %s", r)
		}
	}
	props, _ := sch["properties"].(map[string]any)
	for k, e := range obj {
		if pn, ok := sch["propertyNames"].(map[string]any); ok {
			if err := validate(root, pn, k); err != nil {
				return fmt.Errorf("key %s: %w", k, err)
			}
		}
		if err := checkProperty(root, sch, props, k, e); err != nil {
			return err
		}
	}
	return nil
}

func checkProperty(root, sch, props map[string]any, k string, e any) error {
	if p, ok := props[k].(map[string]any); ok {
		return wrap(k, validate(root, p, e))
	}
	switch ap := sch["additionalProperties"].(type) {
	case bool:
		if !ap {
			return fmt.Errorf("unknown key %s", k)
		}
	case map[string]any:
		return wrap(k, validate(root, ap, e))
	}
	return nil
}

func wrap(k string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", k, err)
	}
	return nil
}

func checkArray(root, sch map[string]any, v any) error {
	items, ok := sch["items"].(map[string]any)
	list, isList := v.([]any)
	if m, ok := sch["minItems"].(float64); ok && isList && float64(len(list)) < m {
		return fmt.Errorf("%v has fewer than %v items", v, m)
	}
	if !ok || !isList {
		return nil
	}
	for i, e := range list {
		if err := validate(root, items, e); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

func checkCombinators(root, sch map[string]any, v any) error {
	if alts, ok := sch["anyOf"].([]any); ok && !slices.ContainsFunc(alts, func(s any) bool {
		return validate(root, s.(map[string]any), v) == nil
	}) {
		return fmt.Errorf("%v matches none of anyOf", v)
	}
	if alts, ok := sch["oneOf"].([]any); ok {
		n := 0
		for _, s := range alts {
			if validate(root, s.(map[string]any), v) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%v matches %d of oneOf, not one", v, n)
		}
	}
	if not, ok := sch["not"].(map[string]any); ok && validate(root, not, v) == nil {
		return fmt.Errorf("%v matches not", v)
	}
	return nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestSchemaServiceValues checks the schema's rules for services against
// the parser's, on samples where both must agree.
func TestSchemaServiceValues(t *testing.T) {
	s := loadSchema(t)
	signal := func(v string) error { _, err := ParseSignal(v); return err }
	restart := func(v string) error {
		_, err := Parse("x.yaml", []byte("nodes: {a: {services: {s: {command: x, restart: "+v+"}}}}"))
		return err
	}
	for _, c := range []struct {
		ref     string
		samples []string
		valid   func(string) error
	}{
		{"#/$defs/stop/properties/signal", []string{"SIGTERM", "TERM", "term", "SigInt", "KILL", "SIGSTOP", "STOP", "15", "SIG", "", "SIGSIGTERM", "SIGTERM ", "USR1", "SIGUSR3"}, signal},
		{"#/$defs/service/properties/restart", []string{"no", "on-failure", "always", "On-failure", "never", "yes", ""}, restart},
	} {
		for _, v := range c.samples {
			schemaOK := validate(s, resolveRef(s, c.ref), v) == nil
			if parserOK := c.valid(v) == nil; schemaOK != parserOK {
				t.Errorf("%s: %q: schema accepts: %v, parser accepts: %v", c.ref, v, schemaOK, parserOK)
			}
		}
	}
}
