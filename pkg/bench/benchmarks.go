package bench

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// This file writes docs/BENCHMARKS.md from what scripts/bench.sh leaves in its run directory:
//
//	run.env        the run's own figures, as shell assignments (name='value'): version,
//	               redis_version, xadd_p16, xadd_p1, redis_clients_base, redis_clients_full,
//	               idle_target, slow_sessions, sessions, rate, quick, hold
//	NAME.json      the Result of each `chatbot bench --json-file` scenario (throughput,
//	               latency, streaming, roundtrips, slow) and the IdleResult of idle
//	NAME.txt       what each scenario printed
//	gobench.txt    the output of the Go benchmarks
//	inflight.txt   the worker's requests in flight during the slow scenario: "unixtime value"
//
// Every figure of the document comes from those files; the Machine says where it ran.

//go:embed benchmarks.md.tmpl
var benchmarksTemplate string

// Machine describes the machine of a run, for the document's first table.
type Machine struct {
	Cores   int     // CPUs this process may use (nproc)
	CPU     string  // model name from /proc/cpuinfo
	MemGiB  float64 // MemTotal
	Kernel  string  // "Linux 6.1.0-18-amd64", as uname -sr
	Go      string  // Go version
	LoadAvg string  // the 1, 5 and 15 minute load averages
	Time    time.Time
}

// ThisMachine is the Machine this process runs on, now. What cannot be read stays empty.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Time: time.Now()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if s := regexp.MustCompile(`(?m)^model name\s*: (.*)$`).FindSubmatch(b); s != nil {
			m.CPU = string(s[1])
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if s := regexp.MustCompile(`(?m)^MemTotal:\s+(\d+)`).FindSubmatch(b); s != nil {
			kb, _ := strconv.ParseFloat(string(s[1]), 64)
			m.MemGiB = kb / 1048576
		}
	}
	osType, _ := os.ReadFile("/proc/sys/kernel/ostype")
	release, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	m.Kernel = strings.TrimSpace(strings.TrimSpace(string(osType)) + " " + strings.TrimSpace(string(release)))
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// WriteBenchmarks writes docs/BENCHMARKS.md from the run directory dir of scripts/bench.sh
// (see above), as run on m.
func WriteBenchmarks(w io.Writer, dir string, m Machine) error {
	env, err := readRunEnv(filepath.Join(dir, "run.env"))
	if err != nil {
		return err
	}
	load := map[string]*Result{}
	for _, name := range []string{"throughput", "latency", "streaming", "roundtrips", "slow", "fairness"} {
		var r Result
		if err := readJSON(filepath.Join(dir, name+".json"), &r); err != nil {
			return err
		}
		load[name] = &r
	}
	var idle IdleResult
	if err := readJSON(filepath.Join(dir, "idle.json"), &idle); err != nil {
		return err
	}
	printed := map[string]string{}
	for _, name := range []string{"throughput", "latency", "streaming", "slow", "idle", "roundtrips", "fairness"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".txt"))
		if err != nil {
			return err
		}
		printed[name] = string(b)
	}
	gobench, err := os.ReadFile(filepath.Join(dir, "gobench.txt"))
	if err != nil {
		return err
	}
	inflight, err := os.ReadFile(filepath.Join(dir, "inflight.txt"))
	if err != nil {
		return err
	}
	d := newBenchmarksDoc(env, load, &idle, m)
	d.SlowGauge = gauge(string(inflight), load["slow"].WindowStart, load["slow"].WindowEnd)
	d.GoBench = goBenchLines(string(gobench))
	d.Scenarios = []scenarioBlock{
		{"1. Throughput: instant model, " + env["sessions"] + " sessions",
			"Closed loop, like real users: each session sends its next message as soon as the reply to the last one is back.",
			printed["throughput"]},
		{"2. Latency at a fixed " + env["rate"] + " messages/s",
			env["sessions"] + " sessions, messages due at a fixed total rate; latency from when each was due.",
			printed["latency"]},
		{"5. Streaming: ack, first delta, delta delivery",
			"`?stream=1` sockets at 500 messages/s. `delta Redis->client` is, for every delta, from the time in its offset (when the worker's write reached Redis) to its arrival at the client. With the instant echo model a reply is often one message without a delta, so there are fewer deltas than turns.",
			printed["streaming"]},
		{"3. Slow model: llm.echo_delay 2s, " + env["slow_sessions"] + " sessions",
			"`chatbot work --replicas 1 --concurrency 4096 --llm.echo_delay 2s`; each session sends its next message when the reply is back, so up to " + env["slow_sessions"] + " replies are in flight.",
			printed["slow"]},
		{"4. Idle sockets",
			"A serve started afresh; " + env["idle_target"] + " sockets opened (one session each) and held " + env["hold"] + " without traffic, then pinged. Per socket = (sample with all sockets − sample with 10) / the sockets in between. RSS from /proc/PID/status; heap, stacks and goroutines from the serve's /metrics; the serve's Redis connections from /proc (its TCP connections to the Redis port).",
			printed["idle"]},
		{"7. Fairness: more busy sessions than slots",
			"`chatbot work --replicas 2 --concurrency 32` (64 slots) and " + env["sessions"] + " sessions in closed loop with 4 messages in flight each, so that every session always has work waiting; after the window the senders stop and what is still unanswered is waited for (`--drain 15s`). `per session` is each session's worst reply in the window.",
			printed["fairness"]},
		{"Redis commands per turn",
			"MONITOR on the Redis during the window, at a low rate (MONITOR slows Redis down; these figures are counts, not speed). Each client connection is attributed to the process that owns it (/proc). EVALSHA is named after the script it runs.",
			printed["roundtrips"]},
	}
	if err := latencyTwice(d, dir, env, load["latency"]); err != nil {
		return err
	}
	d.Old = compareOld(dir, env, load)
	d.LLM, err = llmRows(dir, env)
	if err != nil {
		return err
	}
	for _, row := range d.LLM {
		d.Scenarios = append(d.Scenarios, scenarioBlock{"6. Streams at LLM scale: " + row.Name,
			"A fake OpenAI-compatible model (`chatbot bench --model-addr`: 100 words a reply, one every 25 ms), " + env["sessions"] + " sessions in closed loop with `?stream=1`, their first messages spread over " + env["llm_stagger"] + " (`--stagger`) unless in step; " + row.Name + ".",
			row.printed})
	}
	t, err := template.New("BENCHMARKS.md").Option("missingkey=error").Parse(benchmarksTemplate)
	if err != nil {
		return err
	}
	return t.Execute(w, d)
}

// benchmarksDoc is what benchmarks.md.tmpl shows, every figure formatted.
type benchmarksDoc struct {
	Date, Cores, CPUModel, MemGiB, Kernel, Go, LoadAvg string
	Version, RedisVersion                              string
	Quick                                              bool
	Sessions, Rate, SlowSessions, IdleTarget           string

	Throughput, Latency, Streaming, Slow cpuFigures

	Tput, TputOK, WholeMachine     string
	LatP50, LatP99, LatRate, LatOK string
	// Lat2 is the latency scenario at twice the rate (latency2), nil in runs without it.
	Lat2                                                         *latencyRow
	SlowTput, SlowLittle, SlowMean, SlowGauge, SlowOK            string
	SlowWork, SlowRedis                                          string
	IdlePongs, IdleRSS, IdleRSSKiB, IdleConnsBase, IdleConnsFull string
	RedisClientsBase, RedisClientsFull, IdleOK                   string
	IdleHeapKiB, IdleStackKiB, IdleGoroutines                    string
	DeltaP99, DeltaN, FirstDeltaP99, AckP99, DeltaOK             string
	FairMax, FairP99, FairWorstP50, FairNoReply, FairUnanswered  string
	FairOK                                                       string
	RoundTrips, RoundTripsServe, RoundTripsWork, InScripts       string
	XADDPipelined, XADDOneByOne, RedisUsPerTurn, RedisCeiling    string
	// RedisSysUsPerTurn: the kernel's part of RedisUsPerTurn; "" when the run did not say.
	RedisSysUsPerTurn string
	Scenarios         []scenarioBlock
	GoBench           string

	Old *oldComparison // with BENCH_OLD_BIN: the same scenarios, run by that binary
	LLM []llmRow       // the streams at LLM scale, one row per worker.delta_interval (and old)
}

// oldComparison sets this binary's throughput and latency scenarios against another binary's,
// run alternated in the same run: new (throughput, latency), old, new2, old2.
type oldComparison struct {
	Name []string // the old binary, as `version` prints it
	Rows []compareRow
}

type compareRow struct{ What, New, Old, Ratio string }

// llmRow is one streams-at-LLM-scale scenario's figures, per token.
type llmRow struct {
	Name                                          string
	Turns, RedisCPU, AppCPU, Commands, Bytes      string
	FirstP50, FirstP99, MemPerReply, MemX, Deltas string
	// SocketCPU is the serve's CPU per streaming socket, in ms per second.
	SocketCPU string
	printed   string
}

// cpuFigures is what a scenario's CPU sample says, formatted.
type cpuFigures struct {
	Busy    string // percent of the machine busy
	PerTurn string // "redis 120 µs, serve 80 µs, ..."
	SumUs   string // their sum, µs per turn
	Others  string // cores the rest of the machine used
}

type scenarioBlock struct{ Title, What, Printed string }

func newBenchmarksDoc(env map[string]string, load map[string]*Result, idle *IdleResult, m Machine) *benchmarksDoc {
	tput, lat, stream, rt, slow := load["throughput"], load["latency"], load["streaming"], load["roundtrips"], load["slow"]
	rate := number(env["rate"])
	d := &benchmarksDoc{
		Date: m.Time.UTC().Format("2006-01-02 15:04 UTC"), Cores: strconv.Itoa(m.Cores), CPUModel: m.CPU,
		MemGiB: fmt.Sprintf("%.1f", m.MemGiB), Kernel: m.Kernel, Go: m.Go, LoadAvg: m.LoadAvg,
		Version: env["version"], RedisVersion: env["redis_version"], Quick: env["quick"] != "",
		Sessions: env["sessions"], Rate: env["rate"], SlowSessions: env["slow_sessions"], IdleTarget: env["idle_target"],
		Throughput: cpuOf(tput), Latency: cpuOf(lat), Streaming: cpuOf(stream), Slow: cpuOf(slow),
	}

	d.Tput, d.TputOK = fmt.Sprintf("%.0f", tput.TurnsPerSec), met(tput.TurnsPerSec >= 5000)
	d.WholeMachine = "?"
	if s := number(d.Throughput.SumUs); s > 0 {
		d.WholeMachine = fmt.Sprintf("%.0f", float64(m.Cores)*1e6/s)
	}

	d.LatP50, d.LatP99, d.LatRate = jqNumber(lat.Latency.P50), jqNumber(lat.Latency.P99), fmt.Sprintf("%.0f", lat.TurnsPerSec)
	d.LatOK = met(lat.Latency.P50 <= 2 && lat.Latency.P99 <= 10 && lat.TurnsPerSec >= rate*0.95)

	meanS := slow.Latency.Mean / 1000
	little := fmt.Sprintf("%.0f", slow.TurnsPerSec*meanS)
	d.SlowTput, d.SlowLittle, d.SlowMean = fmt.Sprintf("%.0f", slow.TurnsPerSec), little, fmt.Sprintf("%.2f", meanS)
	d.SlowOK = met(slow.TurnsPerSec >= 500 && number(little) >= 1000)
	d.SlowWork, d.SlowRedis = coresOf(slow, "work"), coresOf(slow, "redis")

	d.IdlePongs, d.IdleRSS = strconv.Itoa(idle.Pongs), fmt.Sprintf("%.0f", idle.RSSPerSocket)
	d.IdleRSSKiB = fmt.Sprintf("%.1f", idle.RSSPerSocket/1024)
	d.IdleConnsBase, d.IdleConnsFull = strconv.Itoa(idle.Base.RedisConns), strconv.Itoa(idle.Full.RedisConns)
	d.RedisClientsBase, d.RedisClientsFull = env["redis_clients_base"], env["redis_clients_full"]
	d.IdleOK = met(float64(idle.Pongs) >= number(env["idle_target"]) && idle.RSSPerSocket <= 16384 && idle.Base.RedisConns == idle.Full.RedisConns)
	d.IdleHeapKiB, d.IdleStackKiB = fmt.Sprintf("%.1f", idle.HeapPerSocket/1024), fmt.Sprintf("%.1f", idle.StackPerSocket/1024)
	d.IdleGoroutines = fmt.Sprintf("%.2f", idle.GoroutinesPerSocket)

	p99 := func(s *Summary) string {
		if s == nil {
			return "n/a"
		}
		return jqNumber(s.P99)
	}
	d.DeltaP99, d.FirstDeltaP99, d.AckP99, d.DeltaN = p99(stream.DeltaDelivery), p99(stream.FirstDelta), p99(stream.Ack), "0"
	// A run whose replies came whole (worker.delta_interval coalescing a fast model's deltas
	// into the final message) measured no delta: say so rather than "met" on zero samples.
	d.DeltaOK = "**not measured**"
	if dd := stream.DeltaDelivery; dd != nil && dd.N > 0 {
		d.DeltaN, d.DeltaOK = strconv.Itoa(dd.N), met(dd.P99 <= 5)
	}

	fair := load["fairness"]
	d.FairMax, d.FairP99 = jqNumber(math.Round(fair.Latency.Max)), jqNumber(math.Round(fair.Latency.P99))
	d.FairWorstP50 = jqNumber(math.Round(fair.SessionWorst.P50))
	d.FairNoReply, d.FairUnanswered = strconv.Itoa(fair.NoReply), strconv.FormatInt(fair.Unanswered, 10)
	d.FairOK = met(fair.Turns > 0 && fair.Latency.Max <= fair.Latency.P99+1000 && fair.NoReply == 0 && fair.Unanswered == 0)

	var serve, work float64
	if rt.RoundTrips != nil {
		serve, work = rt.RoundTrips.PerTurn["serve"], rt.RoundTrips.PerTurn["work"]
		if rt.RoundTrips.InScripts != nil {
			d.InScripts = jqNumber(math.Round(sum(rt.RoundTrips.InScripts)*10) / 10)
		}
	}
	serve, work = math.Round(serve*100)/100, math.Round(work*100)/100
	d.RoundTripsServe, d.RoundTripsWork = jqNumber(serve), jqNumber(work)
	d.RoundTrips = fmt.Sprintf("%.2f", serve+work)

	d.XADDPipelined, d.XADDOneByOne = fmt.Sprintf("%.0f", number(env["xadd_p16"])), fmt.Sprintf("%.0f", number(env["xadd_p1"]))
	redis, hasRedis := tput.CPU.Cores["redis"]
	switch {
	case tput.TurnsPerSec <= 0:
		d.RedisUsPerTurn = "0"
	case hasRedis:
		d.RedisUsPerTurn = jqNumber(math.Round(redis * 1e6 / tput.TurnsPerSec))
		if sys, ok := tput.CPU.Sys["redis"]; ok {
			d.RedisSysUsPerTurn = jqNumber(math.Round(sys * 1e6 / tput.TurnsPerSec))
		}
	}
	d.RedisCeiling = "0"
	if tput.TurnsPerSec > 0 && redis > 0 {
		d.RedisCeiling = jqNumber(math.Round(tput.TurnsPerSec / redis))
	}
	return d
}

// cpuOf formats a scenario's CPU sample; a figure it lacks stays empty.
func cpuOf(r *Result) cpuFigures {
	c := r.CPU
	f := cpuFigures{Busy: jqNumber(math.Round(c.MachineBusy * 100))}
	if c.Cores != nil {
		others := math.Round((c.MachineBusy*float64(c.NumCPU)-sum(c.Cores))*100) / 100
		if others <= 0 {
			others = 0 // never "-0" (a rounded -0.001)
		}
		f.Others = jqNumber(others)
	}
	switch {
	case r.TurnsPerSec <= 0:
		f.SumUs = "0"
	case c.Cores != nil:
		f.SumUs = jqNumber(math.Round(sum(c.Cores) * 1e6 / r.TurnsPerSec))
	}
	if c.Cores != nil {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(c.Cores)) {
			us := 0.0
			if r.TurnsPerSec > 0 {
				us = math.Round(c.Cores[k] * 1e6 / r.TurnsPerSec)
			}
			parts = append(parts, k+" "+jqNumber(us)+" µs")
		}
		f.PerTurn = strings.Join(parts, ", ")
	}
	return f
}

// coresOf is the cores process used, to 2 decimals ("" if it was not watched).
func coresOf(r *Result, process string) string {
	v, ok := r.CPU.Cores[process]
	if !ok {
		return ""
	}
	return jqNumber(math.Round(v*100) / 100)
}

// sum adds m's values in key order (the order of the JSON file).
func sum(m map[string]float64) float64 {
	var s float64
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s += m[k]
	}
	return s
}

// met is the verdict on a target.
func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

// gauge is the worker's in-flight gauge over the window [start, end] of the slow scenario:
// "median (median of N samples; max M)", or "n/a" without samples.
func gauge(inflight string, start, end float64) string {
	var vs []float64
	for _, line := range strings.Split(inflight, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		at := number(f[0])
		if at >= start && at <= end {
			vs = append(vs, number(f[1]))
		}
	}
	if len(vs) == 0 {
		return "n/a"
	}
	slices.Sort(vs)
	return fmt.Sprintf("%d (median of %d samples; max %d)", int64(vs[(len(vs)+1)/2-1]), len(vs), int64(vs[len(vs)-1]))
}

// goBenchLines is the lines of `go test -bench` output worth showing: results and the header.
func goBenchLines(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		for _, p := range []string{"Benchmark", "goos", "goarch", "cpu", "pkg"} {
			if strings.HasPrefix(line, p) {
				keep = append(keep, line)
				break
			}
		}
	}
	return strings.Join(keep, "\n")
}

// number parses a figure; anything that is not a number counts as 0 (as awk does).
func number(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0
	}
	return v
}

// jqNumber formats v as jq 1.6 prints a number: the shortest digits that read back as v, in
// plain notation unless the exponent is below -4 or above the digits plus 15.
func jqNumber(v float64) string {
	e := strconv.FormatFloat(v, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	digits := len(strings.TrimLeft(strings.ReplaceAll(mant, ".", ""), "-"))
	if v != 0 && (x+1 <= -4 || x+1 > digits+15) {
		return e
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readRunEnv reads run.env: one name='value' a line, as bench.sh writes it.
func readRunEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		env[name] = strings.TrimSuffix(strings.TrimPrefix(value, "'"), "'")
	}
	return env, sc.Err()
}

// compareOld reads throughput-old, latency-old, throughput-new2, ... when the run has them.
func compareOld(dir string, env map[string]string, load map[string]*Result) *oldComparison {
	runs := map[string]*Result{"throughput": load["throughput"], "latency": load["latency"]}
	for _, sc := range []string{"throughput", "latency"} {
		for _, round := range []string{"old", "new2", "old2"} {
			var r Result
			if err := readJSON(filepath.Join(dir, sc+"-"+round+".json"), &r); err != nil {
				return nil
			}
			runs[sc+"-"+round] = &r
		}
	}
	c := &oldComparison{Name: []string{env["old_bin"]}}
	// both sums a figure over the two runs of each binary.
	both := func(sc string, f func(*Result) float64) (float64, float64) {
		return (f(runs[sc]) + f(runs[sc+"-new2"])) / 2, (f(runs[sc+"-old"]) + f(runs[sc+"-old2"])) / 2
	}
	add := func(what, unit string, digits int, nw, old float64) {
		ratio := "n/a"
		if old > 0 {
			ratio = fmt.Sprintf("%.2f", nw/old)
		}
		c.Rows = append(c.Rows, compareRow{what, fmt.Sprintf("%.*f%s", digits, nw, unit), fmt.Sprintf("%.*f%s", digits, old, unit), ratio})
	}
	nw, old := both("throughput", func(r *Result) float64 { return r.TurnsPerSec })
	add("throughput, closed loop (turns/s)", "", 0, nw, old)
	for _, p := range []string{"redis", "serve", "work"} {
		nw, old = both("throughput", func(r *Result) float64 {
			if r.TurnsPerSec <= 0 {
				return 0
			}
			return r.CPU.Cores[p] * 1e6 / r.TurnsPerSec
		})
		add("throughput: "+p+" CPU per turn", " µs", 0, nw, old)
	}
	// The machine's speed moves every process's CPU per turn together (by up to 2× between
	// runs here); Redis's over the app's moves with the code.
	nw, old = both("throughput", func(r *Result) float64 {
		if app := r.CPU.Cores["serve"] + r.CPU.Cores["work"]; app > 0 {
			return r.CPU.Cores["redis"] / app
		}
		return 0
	})
	add("throughput: Redis CPU over serve + work CPU (what the machine's speed moves less)", "", 2, nw, old)
	nw, old = both("throughput", func(r *Result) float64 {
		if r.Redis == nil || r.Turns <= 0 {
			return 0
		}
		return float64(r.Redis.Commands) / float64(r.Turns)
	})
	add("throughput: Redis commands per turn, scripts' included (INFO)", "", 1, nw, old)
	nw, old = both("throughput", func(r *Result) float64 { return r.Latency.P99 })
	add("throughput: reply p99", " ms", 1, nw, old)
	nw, old = both("throughput", func(r *Result) float64 { return r.SessionWorst.Max })
	add("throughput: worst session's worst reply", " ms", 0, nw, old)
	nw, old = both("latency", func(r *Result) float64 { return r.Latency.P50 })
	add("at "+env["rate"]+" turns/s: reply p50", " ms", 2, nw, old)
	nw, old = both("latency", func(r *Result) float64 { return r.Latency.P99 })
	add("at "+env["rate"]+" turns/s: reply p99", " ms", 2, nw, old)
	nw, old = both("latency", func(r *Result) float64 { return r.CPU.MachineBusy * 100 })
	add("at "+env["rate"]+" turns/s: machine busy", "%", 0, nw, old)
	return c
}

// latencyRow is the latency scenario at twice the rate: issue 15's tail targets, p99 ≤ 5 ms at
// the latency scenario's rate and ≤ 10 ms at twice it.
type latencyRow struct {
	Rate, P50, P99, Achieved, OK string
	CPU                          cpuFigures
}

// latencyTwice reads latency2.json and .txt when the run has them (make bench since issue 15)
// into d.Lat2 and its scenario block; lat is the latency scenario, at half the rate.
func latencyTwice(d *benchmarksDoc, dir string, env map[string]string, lat *Result) error {
	var r Result
	if err := readJSON(filepath.Join(dir, "latency2.json"), &r); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	printed, err := os.ReadFile(filepath.Join(dir, "latency2.txt"))
	if err != nil {
		return err
	}
	rate := 2 * number(env["rate"])
	d.Lat2 = &latencyRow{Rate: fmt.Sprintf("%.0f", rate), P50: jqNumber(r.Latency.P50), P99: jqNumber(r.Latency.P99),
		Achieved: fmt.Sprintf("%.0f", r.TurnsPerSec), CPU: cpuOf(&r),
		OK: met(r.Latency.P99 <= 10 && lat.Latency.P99 <= 5 && r.TurnsPerSec >= rate*0.95)}
	d.Scenarios = slices.Insert(d.Scenarios, 2, scenarioBlock{"2b. Latency at a fixed " + d.Lat2.Rate + " messages/s",
		env["sessions"] + " sessions, messages due at twice the latency scenario's rate.", string(printed)})
	return nil
}

// llmRows reads llm-WINDOW.json for each window of llm_windows, and llm-old.json.
func llmRows(dir string, env map[string]string) ([]llmRow, error) {
	var rows []llmRow
	names := strings.Fields(env["llm_windows"])
	for _, extra := range []string{"old", "instep"} {
		if _, err := os.Stat(filepath.Join(dir, "llm-"+extra+".json")); err == nil {
			names = append(names, extra)
		}
	}
	for _, w := range names {
		var r Result
		if err := readJSON(filepath.Join(dir, "llm-"+w+".json"), &r); err != nil {
			return nil, err
		}
		printed, err := os.ReadFile(filepath.Join(dir, "llm-"+w+".txt"))
		if err != nil {
			return nil, err
		}
		name := "worker.delta_interval " + w
		switch w {
		case "old":
			name = "the previous binary (" + env["old_bin"] + ", its defaults)"
		case "instep":
			name = "the default worker.delta_interval, sessions in step (started at once)"
		}
		row := llmRow{Name: name, Turns: fmt.Sprintf("%.1f", r.TurnsPerSec), printed: string(printed),
			RedisCPU: "n/a", AppCPU: "n/a", Commands: "n/a", Bytes: "n/a", FirstP50: "n/a", FirstP99: "n/a",
			MemPerReply: "n/a", MemX: "n/a", Deltas: "n/a", SocketCPU: "n/a"}
		if c, ok := r.CPU.Cores["serve"]; ok && r.Sessions > 0 {
			row.SocketCPU = fmt.Sprintf("%.2f", 1000*c/float64(r.Sessions))
		}
		tokens := float64(r.Tokens)
		if tokens > 0 {
			if c, ok := r.CPU.Cores["redis"]; ok {
				row.RedisCPU = fmt.Sprintf("%.4f", 1000*c*r.DurationSec/tokens)
			}
			row.AppCPU = fmt.Sprintf("%.4f", 1000*(r.CPU.Cores["serve"]+r.CPU.Cores["work"])*r.DurationSec/tokens)
			if u := r.Redis; u != nil {
				row.Commands, row.Bytes = fmt.Sprintf("%.2f", float64(u.Commands)/tokens), fmt.Sprintf("%.0f", float64(u.NetBytes)/tokens)
				if r.Replies > 0 && r.WindowReplies > 0 {
					per := float64(u.MemoryBytes) / float64(r.Replies)
					row.MemPerReply = fmt.Sprintf("%.0f", per)
					row.MemX = fmt.Sprintf("%.1f", per/(float64(r.ReplyBytes)/float64(r.WindowReplies)))
				}
			}
		}
		if fd := r.FirstDelta; fd != nil && fd.N > 0 {
			row.FirstP50, row.FirstP99 = fmt.Sprintf("%.1f", fd.P50-r.ModelFirstTokenMs), fmt.Sprintf("%.1f", fd.P99-r.ModelFirstTokenMs)
		}
		if n := r.Frames["message"]; n > 0 {
			row.Deltas = fmt.Sprintf("%.1f", float64(r.Frames["delta"])/float64(n))
		}
		rows = append(rows, row)
	}
	return rows, nil
}
