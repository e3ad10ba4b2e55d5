package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nslab/nslab/internal/natsort"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/service"
)

// Services in ps and status: what the lab's supervisor last wrote
// (service.Read), joined with the processes the kernel shows.

// labServices reads the services of the labs, sorted by node and name. A
// lab whose state cannot be read is named on stderr and shows none.
func labServices(names []string) map[string][]service.ServiceState {
	out := map[string][]service.ServiceState{}
	for _, l := range names {
		st, err := service.Read(l)
		if err != nil {
			logf("%s: reading its services' state: %v", l, err)
			continue
		}
		if st.Unwatched() {
			logf("lab %s: its services' supervisor is not running (killed?): no service is restarted or started; nslab up with its file starts one, which adopts the services that still run", l)
		}
		svcs := slices.Clone(st.Services)
		slices.SortStableFunc(svcs, func(a, b service.ServiceState) int {
			if c := natsort.Compare(a.Node, b.Node); c != 0 {
				return c
			}
			return natsort.Compare(a.Name, b.Name)
		})
		if len(svcs) > 0 {
			out[l] = svcs
		}
	}
	return out
}

// alive reports whether the state says the service has a process.
func alive(s service.ServiceState) bool {
	return s.PID > 0 && (s.State == service.Starting || s.State == service.Running || s.State == service.Stopping)
}

// psRow is a line of nslab ps: a process, and the service it is, if any;
// a service without a process has PID 0.
type psRow struct {
	lab.Process
	Service *service.ServiceState `json:"service,omitempty"`
}

// psRows joins the processes with the services: each service's process
// carries it, and a service without one gets a line of its own.
func psRows(procs []lab.Process, svcs map[string][]service.ServiceState) []psRow {
	rows := make([]psRow, 0, len(procs))
	taken := map[*service.ServiceState]bool{}
	for _, p := range procs {
		r := psRow{Process: p}
		for i := range svcs[p.Lab] {
			s := &svcs[p.Lab][i]
			if s.Node == p.Node && s.PID == p.PID && alive(*s) {
				r.Service, taken[s] = s, true
			}
		}
		rows = append(rows, r)
	}
	for l, ss := range svcs {
		for i := range ss {
			if s := &ss[i]; !taken[s] {
				pid := 0
				if alive(*s) {
					pid = s.PID
				}
				rows = append(rows, psRow{Process: lab.Process{Lab: l, Node: s.Node, PID: pid}, Service: s})
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b psRow) int {
		if c := natsort.Compare(a.Lab, b.Lab); c != 0 {
			return c
		}
		if c := natsort.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		// A node's services first, by name; then its other processes.
		if (a.Service == nil) != (b.Service == nil) {
			if a.Service != nil {
				return -1
			}
			return 1
		}
		if a.Service != nil {
			if c := natsort.Compare(a.Service.Name, b.Service.Name); c != 0 {
				return c
			}
		}
		return a.PID - b.PID
	})
	return rows
}

// writePs writes the ps table; the service columns only when a lab has
// services.
func writePs(w io.Writer, rows []psRow, now time.Time) error {
	withServices := slices.ContainsFunc(rows, func(r psRow) bool { return r.Service != nil })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !withServices {
		fmt.Fprintln(tw, "LAB\tNODE\tPID\tCOMMAND")
		for _, p := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", p.Lab, p.Node, p.PID, strings.Join(p.Args, " "))
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "LAB\tNODE\tPID\tSERVICE\tSTATE\tREADY\tRESTARTS\tUPTIME\tCOMMAND")
	for _, p := range rows {
		cmd := strings.Join(p.Args, " ")
		if cmd == "" {
			cmd = "-"
		}
		if s := p.Service; s != nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p.Lab, p.Node, pidText(p.PID), s.Name, s.State, yesNo(s.Ready), s.Restarts, uptime(*s, now), cmd)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t-\t-\t-\t%s\n", p.Lab, p.Node, p.PID, cmd)
	}
	return tw.Flush()
}

// writeServices writes the services table of nslab status.
func writeServices(w io.Writer, labs []string, svcs map[string][]service.ServiceState, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAB\tNODE\tSERVICE\tSTATE\tREADY\tPID\tRESTARTS\tUPTIME\tLAST EXIT")
	for _, l := range labs {
		for _, s := range svcs[l] {
			pid := 0
			if alive(s) {
				pid = s.PID
			}
			last := s.Exit
			if s.Reason != "" {
				last = strings.TrimSpace(last + " (" + s.Reason + ")")
			}
			if last == "" {
				last = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", l, s.Node, s.Name, s.State, yesNo(s.Ready), pidText(pid), s.Restarts, uptime(s, now), last)
		}
	}
	return tw.Flush()
}

func pidText(pid int) string {
	if pid == 0 {
		return "-"
	}
	return strconv.Itoa(pid)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// uptime is how long a service's process has run: from its start time
// when the state has it, else since its last change of state; "-" when
// it has no process.
func uptime(s service.ServiceState, now time.Time) string {
	if !alive(s) {
		return "-"
	}
	if d, ok := processAge(s.StartTime); ok {
		return short(d)
	}
	if s.Since.IsZero() {
		return "-"
	}
	return short(now.Sub(s.Since))
}

// processAge is how long ago a process started, from its start time in
// clock ticks since boot (/proc/PID/stat field 22; USER_HZ is 100 on
// Linux) and the machine's uptime.
func processAge(ticks uint64) (time.Duration, bool) {
	if ticks == 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, false
	}
	d := time.Duration((up - float64(ticks)/100) * float64(time.Second))
	return max(d, 0), true
}

// short writes a duration as people read an age: 850ms, 42s, 5m3s, 2h5m,
// 3d4h.
func short(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	d = d.Round(time.Hour)
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
