package web

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// Every request needs the token, names nslab's address as its Host and
// comes from nslab's own page if it says where it comes from: a page of
// another site, a DNS name rebound to 127.0.0.1 and a request without the
// token are refused before anything is read of the labs.
func TestGuard(t *testing.T) {
	s, err := New("127.0.0.1:7070", Config{Token: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, tc := range []struct {
		name, method, target, host, token, origin, site string
		want                                            int
	}{
		{name: "page with the token in its address", target: "/?token=secret", want: 200},
		{name: "page at localhost", target: "/?token=secret", host: "localhost:7070", want: 200},
		{name: "page without a token", target: "/", want: 401},
		{name: "page with a wrong token", target: "/?token=secreT", want: 401},
		{name: "api without a token", target: "/api/graph?lab=x", want: 401},
		{name: "api with the token in its address", target: "/api/graph?lab=x&token=secret", want: 401},
		{name: "stream without a token", target: "/api/stream", want: 401},
		{name: "cut without a token", method: "POST", target: "/api/link", want: 401},
		{name: "forged origin", target: "/api/graph?lab=x", token: "secret", origin: "http://evil.example", want: 403},
		{name: "forged origin on a cut", method: "POST", target: "/api/link", token: "secret", origin: "http://evil.example", want: 403},
		{name: "origin of another port", target: "/api/graph?lab=x", token: "secret", origin: "http://127.0.0.1:8080", want: 403},
		{name: "cross-site fetch", target: "/api/graph?lab=x", token: "secret", site: "cross-site", want: 403},
		{name: "DNS rebinding", target: "/?token=secret", host: "evil.example:7070", want: 421},
		{name: "DNS rebinding with the token", target: "/api/graph?lab=x", host: "evil.example:7070", token: "secret", want: 421},
		{name: "another port", target: "/?token=secret", host: "127.0.0.1:80", want: 421},
		{name: "own origin", target: "/api/graph?lab=nslab-no-such-lab", token: "secret", origin: "http://127.0.0.1:7070", want: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			r := httptest.NewRequest(method, tc.target, strings.NewReader(`{}`))
			r.Host = "127.0.0.1:7070"
			if tc.host != "" {
				r.Host = tc.host
			}
			if tc.token != "" {
				r.Header.Set(TokenHeader, tc.token)
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				r.Header.Set("Sec-Fetch-Site", tc.site)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if w.Code == 200 && !strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src 'sha256-") {
				t.Errorf("page without a script policy: %q", w.Header().Get("Content-Security-Policy"))
			}
			if w.Code != 200 && strings.Contains(w.Body.String(), "<svg") {
				t.Errorf("a refused request got the page")
			}
			if c := w.Header().Get("Set-Cookie"); c != "" {
				t.Errorf("a cookie was set: %s", c)
			}
		})
	}
}

// The page is one response: its script and style are inlined, so that
// nothing else is fetched with the token in an address, and the script
// policy allows exactly that script.
func TestPageSelfContained(t *testing.T) {
	s, err := New("127.0.0.1:7070", Config{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	page := string(s.page)
	for _, bad := range []string{"/*SCRIPT*/", "/*STYLE*/", "src=", "href=", "http://", "https://"} {
		if strings.Contains(page, bad) && !(bad == "http://" && strings.Contains(page, `"http://www.w3.org/2000/svg"`)) {
			t.Errorf("page holds %q", bad)
		}
	}
	if !strings.Contains(page, "X-Nslab-Token") {
		t.Errorf("page's script sends no token header")
	}
}

// Listening on every address, a Host is the server's port at any IP
// address, never a name.
func TestGuardAnyAddress(t *testing.T) {
	s, err := New("0.0.0.0:7070", Config{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{"192.0.2.1:7070": true, "[2001:db8::1]:7070": true, "evil.example:7070": false, "192.0.2.1:80": false, "localhost:7070": false} {
		if got := s.hostAllowed(host); got != want {
			t.Errorf("Host %s allowed: %v, want %v", host, got, want)
		}
	}
}
