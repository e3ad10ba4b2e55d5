package procstat

import (
	"os"
	"testing"
)

func TestParse(t *testing.T) {
	line := "4242 (a b) (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615\n"
	state, start, err := parse(4242, []byte(line))
	if err != nil || state != "S" || start != 98765 {
		t.Errorf("parse: %q %d %v, want S 98765", state, start, err)
	}
	if _, _, err := parse(1, []byte("1 (x) S 1 2")); err == nil {
		t.Error("a short line parsed")
	}
}

func TestReadSelf(t *testing.T) {
	state, start, err := Read(os.Getpid())
	if err != nil || state != "R" && state != "S" || start == 0 {
		t.Errorf("this process: %q %d %v", state, start, err)
	}
	if _, _, err := Read(-1); err == nil {
		t.Error("pid -1 read")
	}
}
