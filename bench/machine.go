package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineInfo describes where the bench ran.
type machineInfo struct {
	Date   string
	CPUs   int
	CPU    string
	MemGiB float64
	Kernel string
	Distro string
	Go     string
	Commit string
	Dirty  []string // changed files outside bench/
	// What else ran: load average and network namespaces that are not
	// the bench's, at the start and at the end of the run.
	LoadStart, LoadEnd     string
	OthersStart, OthersEnd int
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}

// otherNetns counts the named network namespaces not made by the bench:
// other labs on the machine compete for its CPUs.
func otherNetns() int {
	ents, _ := os.ReadDir("/run/netns")
	n := 0
	for _, e := range ents {
		if !hasAnyPrefix(e.Name(), benchNetnsPrefixes) {
			n++
		}
	}
	return n
}

func (m machineInfo) short() string {
	return fmt.Sprintf("%d × %s, %.1f GiB, Linux %s, %s, %s", m.CPUs, m.CPU, m.MemGiB, m.Kernel, m.Distro, m.Go)
}

func readMachine(ctx context.Context) machineInfo {
	m := machineInfo{Date: time.Now().Format("2006-01-02 15:04 MST"), CPUs: runtime.NumCPU(), CPU: "unknown",
		LoadStart: loadAvg(), OthersStart: otherNetns()}
	if v := fileField("/proc/cpuinfo", "model name", ":"); v != "" {
		m.CPU = v
	}
	if v := fileField("/proc/meminfo", "MemTotal", ":"); v != "" {
		kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
		m.MemGiB = kb / (1 << 20)
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	m.Distro = strings.Trim(fileField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	m.Go = strings.TrimPrefix(strings.TrimSpace(output(ctx, "go", "version")), "go version ")
	if m.Go == "" {
		m.Go = runtime.Version()
	}
	m.Commit = strings.TrimSpace(output(ctx, "git", "rev-parse", "--short", "HEAD"))
	if m.Commit == "" {
		m.Commit = "unknown (no git)"
	}
	for _, line := range strings.Split(output(ctx, "git", "status", "--porcelain"), "\n") {
		if len(line) > 3 && !strings.HasPrefix(line[3:], "bench/") {
			m.Dirty = append(m.Dirty, strings.TrimSpace(line))
		}
	}
	if len(m.Dirty) > 0 {
		m.Commit += "-dirty"
	}
	return m
}

// fileField returns the value of the first line "key SEP value" of a file.
func fileField(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// output runs a short informational command and returns its output, or ""
// when it fails.
func output(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// repoRoot finds the nslab checkout: the bench runs from anywhere in it.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		data, err := os.ReadFile(d + "/go.mod")
		if err == nil && strings.Contains(string(data), "module github.com/nslab/nslab\n") {
			return d, nil
		}
		parent := d[:max(strings.LastIndexByte(d, '/'), 0)]
		if parent == "" || parent == d {
			break
		}
		d = parent
	}
	return "", fmt.Errorf("run the bench inside the nslab checkout (no go.mod of github.com/nslab/nslab above %s)", dir)
}
