package topology

import (
	"strings"
	"testing"
)

// TestRestartNo: YAML 1.1 reads a plain no as false; go.yaml.in/yaml/v3
// and nslab read it as the string "no" (YAML 1.2), also under a %YAML 1.1
// directive. false is taken for no; true, yes and off are refused.
func TestRestartNo(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"restart: no", RestartNo},
		{"restart: \"no\"", RestartNo},
		{"restart: false", RestartNo},
		{"restart: False", RestartNo},
		{"restart: on-failure", RestartOnFailure},
		{"restart: always", RestartAlways},
		{"", RestartNo},
		{"restart: true", "fuzz.yaml:7:18: nodes.a.services.s.restart: true does not say when to restart: write on-failure or always"},
		{"restart: yes", `fuzz.yaml:7:18: nodes.a.services.s.restart "yes": write no, on-failure or always (yes does not say when to restart)`},
		{"restart: off", `fuzz.yaml:7:18: nodes.a.services.s.restart "off": write no, on-failure or always (did you mean no?)`},
		{"restart: NO", `fuzz.yaml:7:18: nodes.a.services.s.restart "NO": write no, on-failure or always (did you mean no?)`},
	} {
		for _, prefix := range []string{"", "%YAML 1.1\n---\n"} {
			src := prefix + "name: x\nnodes:\n  a:\n    services:\n      s:\n        command: x\n        " + tc.doc + "\n"
			l, err := Parse("fuzz.yaml", []byte(src))
			got := ""
			if err != nil {
				got = err.Error()
				if prefix != "" {
					got = strings.Replace(got, "fuzz.yaml:9:", "fuzz.yaml:7:", 1)
				}
			} else {
				got = l.Nodes[0].Services[0].Restart
			}
			if got != tc.want {
				t.Errorf("%q%s: got %q, want %q", prefix, tc.doc, got, tc.want)
			}
		}
	}
}

func TestParseReadyTCP(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"9000", "127.0.0.1:9000"},
		{"10.0.0.2:9000", "10.0.0.2:9000"},
		{"[fd00::2]:9000", "[fd00::2]:9000"},
		{"[fe80::1%eth0]:80", "[fe80::1%eth0]:80"},
		{"localhost:80", "127.0.0.1:80"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80"},
		{"0", "error"}, {"65536", "error"}, {"09000", "error"}, {"", "error"},
		{"0.0.0.0:80", "error"}, {"[::]:80", "error"}, {"224.0.0.1:80", "error"}, {"255.255.255.255:80", "error"},
		{"fd00::2:80", "error"}, {"[10.0.0.1]:80", "error"}, {"[fd00::1:80", "error"},
		{"example.com:80", "error"}, {"10.0.0.2", "error"}, {"10.0.0.2:", "error"}, {"10.0.0.2:+80", "error"},
	} {
		got, err := ParseReadyTCP(tc.in)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("ParseReadyTCP(%q) = %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseReadyURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:9000/health", "http://127.0.0.1:9000/health"},
		{"http://10.0.0.2/", "http://10.0.0.2/"},
		{"http://[fd00::2]:2379/health?serializable=true", "http://[fd00::2]:2379/health?serializable=true"},
		{"http://localhost:8080/x", "http://127.0.0.1:8080/x"},
		{"http://LOCALHOST", "http://127.0.0.1"},
		{"https://127.0.0.1/", "error"}, {"ftp://127.0.0.1/", "error"}, {"127.0.0.1:80/x", "error"},
		{"http://", "error"}, {"http:127.0.0.1", "error"}, {"http://u:p@127.0.0.1/", "error"},
		{"http://example.com/", "error"}, {"http://0.0.0.0/", "error"}, {"http://127.0.0.1:0/", "error"},
		{"http://127.0.0.1:99999/", "error"}, {"http://127.0.0.1:/", "error"}, {"http://[::1/", "error"},
	} {
		got, err := ParseReadyURL(tc.in)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("ParseReadyURL(%q) = %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SIGTERM", "SIGTERM"}, {"TERM", "SIGTERM"}, {"term", "SIGTERM"}, {"SigInt", "SIGINT"}, {"KILL", "SIGKILL"},
		{"SIGSTOP", "error"}, {"15", "error"}, {"SIG", "error"}, {"", "error"}, {"SIGSIGTERM", "error"},
	} {
		got, err := ParseSignal(tc.in)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("ParseSignal(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidUser(t *testing.T) {
	for _, u := range []string{"nobody", "postgres", "www-data", "_apt", "a.b", "0", "65534", "4294967294", "smb$", strings.Repeat("a", 32)} {
		if err := ValidUser(u); err != nil {
			t.Errorf("ValidUser(%q): %v", u, err)
		}
	}
	for _, u := range []string{"", "-x", "a b", "a:b", "a/b", "4294967295", "007", "ü", "a$b", strings.Repeat("a", 33)} {
		if ValidUser(u) == nil {
			t.Errorf("ValidUser(%q) accepted", u)
		}
	}
}

func TestParseServiceRef(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"api", "web/api"}, {"db/pg", "db/pg"}, {"web/api", "web/api"},
		{"", "error"}, {"/x", "error"}, {"x/", "error"}, {"a/b/c", "error"}, {"host/x", "error"}, {"a b", "error"},
	} {
		r, err := ParseServiceRef(tc.in, "web")
		got := r.String()
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("ParseServiceRef(%q) = %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}
