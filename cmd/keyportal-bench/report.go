package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// report is the Markdown the bench prints and writes to docs/performance.md.
type report struct {
	strings.Builder
	verdicts [][]string // target, measured, met
}

func (r *report) para(format string, args ...any) {
	fmt.Fprintf(r, format+"\n\n", args...)
}

// table writes a Markdown table with aligned columns.
func (r *report) table(head []string, rows [][]string) {
	w := make([]int, len(head))
	for _, row := range append([][]string{head}, rows...) {
		for i, c := range row {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		for i, c := range cells {
			fmt.Fprintf(r, "| %s%s ", c, strings.Repeat(" ", w[i]-len([]rune(c))))
		}
		r.WriteString("|\n")
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, row := range rows {
		line(row)
	}
	r.WriteString("\n")
}

// verdict records a target and whether this run met it.
func (r *report) verdict(target, measured string, met bool) {
	r.verdicts = append(r.verdicts, []string{target, measured, map[bool]string{true: "met", false: "**missed**"}[met]})
}

// machine describes where the numbers come from.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	commit := ""
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		commit = ", commit " + strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s %s/%s%s%s", model, runtime.NumCPU(),
		runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel, commit)
}

// sample is a set of request durations.
type sample []time.Duration

// pct is the nearest-rank percentile p (0-100).
func (s sample) pct(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(math.Ceil(p/100*float64(len(c)))) - 1
	return c[max(0, min(i, len(c)-1))]
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func kb(n int64) string { return fmt.Sprintf("%.1f KB", float64(n)/1024) }
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// selfCPU is this process's user + system time: the bench's own client work.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadavg is the 1-minute load average, from /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}
