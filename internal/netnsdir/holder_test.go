package netnsdir

import "testing"

func TestHolderIn(t *testing.T) {
	locks := `1: FLOCK  ADVISORY  WRITE 4242 00:1a:77 0 EOF
1: -> FLOCK  ADVISORY  WRITE 5151 00:1a:77 0 EOF
2: FLOCK  ADVISORY  READ 3131 00:1a:78 0 EOF
3: OFDLCK ADVISORY  WRITE -1 00:1a:79 0 EOF
4: FLOCK  ADVISORY  READ 0 00:1a:80 0 EOF
5: FLOCK  ADVISORY  READ 11 00:1a:81 0 EOF
5: FLOCK  ADVISORY  READ 12 00:1a:81 0 EOF
`
	cmd := func(pid string) string {
		if pid == "4242" {
			return "nslab up big.yaml"
		}
		return ""
	}
	for id, want := range map[string]string{
		"00:1a:77": "pid 4242 (nslab up big.yaml)", // the waiter (->) is no holder
		"00:1a:78": "pid 3131",                     // gone since: no command
		"00:1a:79": "another process",              // an OFD lock has no pid
		"00:1a:80": "another process",              // a holder of another PID namespace
		"00:1a:81": "pid 11, pid 12",               // shared holders
		"00:1a:99": "another process",
	} {
		if got := holderIn(locks, id, cmd); got != want {
			t.Errorf("holder of %s: %q, want %q", id, got, want)
		}
	}
}
