package nslabtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/nftables"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it builds network namespaces, veth pairs and bridges")
	}
}

var seq atomic.Int64

// Name returns a lab name of this test process's, unique on the machine:
// prefix, the process's pid and a counter, within the 24 bytes a lab
// name may have. Run as root, it records the name as the process's for
// as long as the process lives, as Own does for a test: should the
// process die before the lab is down (killed by go test's timeout, kill
// -9), the next test process that names, owns or starts a lab removes
// what is left of it (that process's first Name does it, saying so on
// standard error). A name still recorded (a dead process of the same
// pid whose lab is not yet removed) is not given again.
func Name(prefix string) string {
	reap(logStderr)
	for try := 0; ; try++ {
		n := fmt.Sprintf("%s%d-%d", prefix, os.Getpid()%100000, seq.Add(1))
		if len(n) > 24 {
			n = n[len(n)-24:]
		}
		if recordNew(n) || try >= 100 {
			return n
		}
	}
}

// IP runs ip with args and returns its output; failures fail the test.
func IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Leftovers lists what of the lab remains on the machine: namespaces,
// root-namespace links that carry its marks, netns mounts and state.
func Leftovers(lab string) []string {
	var left []string
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), lab+".") {
			left = append(left, "namespace "+e.Name())
		}
	}
	// Only lines of links count: ip also prints notes such as "Dump was
	// interrupted and may be inconsistent." while links come and go.
	out, _ := exec.Command("ip", "-o", "-d", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if !linkLine.MatchString(line) {
			continue
		}
		if strings.Contains(line, kernel.MarkerPrefix+lab+":") || hasAltnameOf(line, lab) {
			left = append(left, "link "+strings.Fields(line)[1])
		}
	}
	// Links of the lab's group, marked or not: a link made by an nslab
	// killed before it set the link's alias has only its group.
	seen := map[string]bool{}
	for _, l := range left {
		seen[l] = true
	}
	out, _ = exec.Command("ip", "-o", "link", "show", "group", fmt.Sprint(plan.Group(lab))).Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && linkLine.MatchString(line) {
			if l := "link " + f[1]; !seen[l] {
				left = append(left, l)
			}
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, " /run/netns/"+lab+".") || strings.Contains(line, " /run/nslab/"+lab+"/") {
			left = append(left, "mount "+strings.Fields(line)[1])
		}
	}
	if tables, err := kernel.NftTables(); err == nil && tables[lab] {
		left = append(left, "nftables table inet "+kernel.TableName(lab))
	}
	left = append(left, testTables(lab)...)
	left = append(left, processes(lab)...)
	for _, f := range statePaths(lab) {
		if _, err := os.Stat(f); err == nil {
			left = append(left, "state "+f)
		}
	}
	return left
}

// statePaths are the files nslab keeps for a lab: its state, its lock
// and its nodes' files.
func statePaths(lab string) []string {
	return []string{"/run/nslab/" + lab, "/run/nslab/.locks/" + lab, "/run/nslab-nodes/" + lab}
}

// linkLine matches a line of ip -o link show: "12: name…".
var linkLine = regexp.MustCompile(`^[0-9]+: `)

// CheckLeaks fails the test if anything of the lab remains. It does not
// wait: down must have removed everything by the time it returns. held
// names what the test still holds on purpose at this point, as Leftovers
// words it ("nftables table inet nslabtest-LAB").
func CheckLeaks(t testing.TB, lab string, held ...string) {
	t.Helper()
	var left []string
	for _, l := range Leftovers(lab) {
		if !slices.Contains(held, l) {
			left = append(left, l)
		}
	}
	if len(left) > 0 {
		t.Errorf("lab %s left behind: %s", lab, strings.Join(left, "; "))
	}
}

// CheckLeaksAtEnd runs CheckLeaks once every cleanup registered after it
// has run: call it first, when the test names its lab, so that what the
// test's own cleanups fail to remove is seen. The lab is the test
// process's (Own) until then: if the process dies before, the next test
// process removes it.
func CheckLeaksAtEnd(t testing.TB, lab string) {
	t.Helper()
	Own(t, lab)
	t.Cleanup(func() { CheckLeaks(t, lab) })
}

// TestTablePrefix starts the names of the nftables tables that tests make
// for themselves (a foreign table, an outside world's rules): TestTable
// names them after the lab so that the lab's leak check sees them.
const TestTablePrefix = "nslabtest-"

// TestTable names a test's own nftables table for lab.
func TestTable(lab string) string { return TestTablePrefix + lab }

// testTables lists the tables of every family named after the lab by
// TestTable (with or without a suffix).
func testTables(lab string) []string {
	var left []string
	for _, tb := range listTables() {
		if isTestTable(tb.Name, lab) {
			left = append(left, fmt.Sprintf("nftables table %s %s", familyName(tb.Family), tb.Name))
		}
	}
	return left
}

// isTestTable reports whether table is lab's by TestTable.
func isTestTable(table, lab string) bool {
	return table == TestTable(lab) || strings.HasPrefix(table, TestTable(lab)+"-")
}

// listTables lists the nftables tables of every family; none when they
// cannot be read.
func listTables() []*nftables.Table {
	c, err := nftables.New()
	if err != nil {
		return nil
	}
	defer c.CloseLasting()
	tables, _ := c.ListTables()
	return tables
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprint(f)
}

// NftTable adds a table of the test's own in the root namespace; cleanup
// deletes it, alone in its batch so that nothing else deleted before can
// make the deletion fail, and fails the test if it stays.
func NftTable(t testing.TB, table *nftables.Table) {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	c.AddTable(table)
	if err := c.Flush(); err != nil {
		t.Fatalf("adding nftables table %s: %v", table.Name, err)
	}
	t.Cleanup(func() {
		c.DelTable(table)
		if err := c.Flush(); err != nil && !errors.Is(err, syscall.ENOENT) {
			t.Errorf("deleting the test's nftables table %s: %v", table.Name, err)
		}
	})
}

// subnetDir holds one file per IPv4 /24 handed out by Subnet, shared by
// every test process on the machine so that parallel packages never put
// the same subnet on the host.
const subnetDir = "/run/nslab-test-subnets"

// Subnet reserves a /24 under 10.200.0.0/16 for the test and returns its
// first three octets, as "10.200.7". The reservation ends with the test.
func Subnet(t testing.TB) string {
	t.Helper()
	for b := 1; b < 255; b++ {
		s := fmt.Sprintf("10.200.%d", b)
		path := subnetDir + "/" + s
		f, err := reserve(path)
		if err != nil {
			continue
		}
		fmt.Fprintln(f, self())
		f.Close()
		release := func() {
			os.Remove(path)
			os.Remove(subnetDir) // when no other test holds one
		}
		if hostUses(s) {
			// A lab that a killed test left behind still holds it: up
			// would refuse the overlap.
			release()
			continue
		}
		t.Cleanup(release)
		return s
	}
	t.Fatalf("no free test subnet left in %s", subnetDir)
	return ""
}

// Subnets reserves a subnet of each family for the test's host-side
// addresses, as Subnet does: 10.200.N.0/24 and fd10:200:N::/64.
func Subnets(t testing.TB) (v4, v6 netip.Prefix) {
	t.Helper()
	s := Subnet(t)
	v4 = netip.MustParsePrefix(s + ".0/24")
	v6 = netip.MustParsePrefix("fd10:" + strings.ReplaceAll(strings.TrimPrefix(s, "10."), ".", ":") + "::/64")
	return v4, v6
}

// hostUses reports whether the host has an address in the /24 (IPv4) or
// in the IPv6 subnet tests derive from it (fd10:200:N::/64).
func hostUses(s string) bool {
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(s, "10."), ".", ":") + "::"
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ip := a.String()
		if strings.HasPrefix(ip, s+".") || strings.HasPrefix(ip, v6) {
			return true
		}
	}
	return false
}

// reserve creates the reservation file path, or fails when a live process
// holds it. A reservation of a process that is gone (a test killed) is
// taken over; a directory removed meanwhile by the last holder is made
// again.
func reserve(path string) (*os.File, error) {
	for try := 0; ; try++ {
		if err := os.MkdirAll(subnetDir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		switch {
		case err == nil:
			return f, nil
		case try > 3:
			return nil, err
		case os.IsNotExist(err):
			continue
		case os.IsExist(err):
			data, _ := os.ReadFile(path)
			if owner, ok := parseOwner(string(data)); !ok || owner.alive() {
				return nil, err
			}
			os.Remove(path) // its test is gone
		default:
			return nil, err
		}
	}
}

// Netns makes a named namespace with ip netns add, for a test's foreign
// or outside-world namespace; cleanup deletes it.
func Netns(t testing.TB, name string) {
	t.Helper()
	HoldNetnsDir(t)
	IP(t, "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
}

// HoldNetnsDir makes the test a user of /run/netns as nslab's ups are
// (see internal/netnsdir): the shared mount that ip netns add or the
// kernel package would make and leave is made and recorded as nslab
// makes it, and taken back at the end of the test (or by the down of the
// last lab) once nothing is named there.
func HoldNetnsDir(t testing.TB) {
	t.Helper()
	release, err := netnsdir.Hold(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		release()
		netnsdir.Release(stateDir)
		os.Remove(filepath.Join(stateDir, ".locks"))
		os.Remove(stateDir)
	})
}

// stateDir is where nslab keeps its state (lab.StateDir).
var stateDir = lab.StateDir

// EtcNetns makes /etc/netns/NS for a test's files and removes it at the
// end, with /etc/netns itself when the test made it.
func EtcNetns(t testing.TB, ns string) string {
	t.Helper()
	_, err := os.Stat(kernel.EtcNetnsDir)
	made := os.IsNotExist(err)
	dir := filepath.Join(kernel.EtcNetnsDir, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		if made {
			os.Remove(kernel.EtcNetnsDir) // only when empty
		}
	})
	return dir
}

// processes lists the lab's services and supervisor still running: the
// processes with NSLAB_LAB=LAB in their environment (services and what
// they started) and "nslab-supervise LAB ...".
func processes(lab string) []string {
	var left []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if strings.HasPrefix(string(cmd), "nslab-supervise\x00"+lab+"\x00") || slices.Contains(strings.Split(string(env), "\x00"), "NSLAB_LAB="+lab) {
			if stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); strings.Contains(string(stat), ") Z ") {
				continue // ended, waiting for its parent to reap it
			}
			left = append(left, fmt.Sprintf("process %d %s", pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")))
		}
	}
	return left
}

// Kernel logs and returns the release of the kernel the test runs on
// (uname -r): tests of kernel features say where they ran, the host or
// the stock-kernel VM.
func Kernel(t testing.TB) string {
	t.Helper()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	where := "the host"
	if os.Getenv("NSLAB_IN_VM") != "" {
		where = "the stock-kernel VM"
	}
	t.Logf("kernel %s (%s)", b, where)
	return string(b)
}

// hasAltnameOf reports whether a line of ip -o -d link shows an altname of
// lab: "NAME.LAB" (plan's altnames), or "LAB.NAME" (tests that give their
// links altnames of their own).
func hasAltnameOf(line, lab string) bool {
	f := strings.Fields(strings.ReplaceAll(line, `\`, " "))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "altname" && (strings.HasSuffix(f[i+1], "."+lab) || strings.HasPrefix(f[i+1], lab+".")) {
			return true
		}
	}
	return false
}
