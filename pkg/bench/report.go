package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// formatCounts is "kind n, kind n" sorted by kind, or "none".
func formatCounts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// formatRates is "name 1.50, name 0.25" sorted by name.
func formatRates(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (s Summary) String() string {
	if s.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms  (mean %.2fms, n=%d)", s.P50, s.P90, s.P99, s.Max, s.Mean, s.N)
}

// Print writes the result for people.
func (r *Result) Print(w io.Writer) {
	mode := fmt.Sprintf("closed loop, %d in flight per session", r.Pipeline)
	if r.StaggerSec > 0 {
		mode += fmt.Sprintf(", first messages spread over %.1fs", r.StaggerSec)
	}
	if r.Rate > 0 {
		mode = fmt.Sprintf("fixed rate %.0f msg/s", r.Rate)
	}
	fmt.Fprintf(w, "bench %s: %d sessions x %d sockets, %s, stream %v, %.0fs measured after %.0fs warmup (setup %.1fs, %d source addresses)\n",
		r.URL, r.Sessions, r.SocketsPerSession, mode, r.Stream, r.DurationSec, r.WarmupSec, r.SetupSec, r.SourceAddrs)
	fmt.Fprintf(w, "  turns:       %d of %d sent = %.1f turns/s\n", r.Turns, r.Sent, r.TurnsPerSec)
	fmt.Fprintf(w, "  reply:       %s\n", r.Latency)
	fmt.Fprintf(w, "  per session: worst reply %s; %d of %d sessions got no reply in the window; %d messages unanswered at the end\n",
		r.SessionWorst.Brief(), r.NoReply, r.Sessions, r.Unanswered)
	if r.Ack != nil {
		fmt.Fprintf(w, "  ack:         %s\n", *r.Ack)
	}
	if r.FirstDelta != nil {
		fmt.Fprintf(w, "  first delta: %s\n", *r.FirstDelta)
	}
	if r.DeltaDelivery != nil {
		fmt.Fprintf(w, "  delta Redis->client: %s\n", *r.DeltaDelivery)
	}
	fmt.Fprintf(w, "  errors:      %s\n", formatCounts(r.Errors))
	fmt.Fprintf(w, "  frames in:   %s\n", formatCounts(r.Frames))
	if u := r.Redis; u != nil && r.Turns > 0 {
		fmt.Fprintf(w, "  Redis (INFO): %.1f commands per turn (those inside scripts too), %.0f B of traffic per turn; used_memory %+d B after the run\n",
			float64(u.Commands)/float64(r.Turns), float64(u.NetBytes)/float64(r.Turns), u.MemoryBytes)
	}
	r.printTokens(w)
	if rt := r.RoundTrips; rt != nil {
		fmt.Fprintf(w, "  Redis commands per turn (MONITOR, %d turns):\n", rt.Turns)
		for _, p := range slices.Sorted(maps.Keys(rt.ByProcess)) {
			fmt.Fprintf(w, "    %-6s %.2f: %s\n", p, rt.PerTurn[p], formatRates(rt.ByProcess[p]))
		}
		fmt.Fprintf(w, "    inside scripts: %s\n", formatRates(rt.InScripts))
	}
	if len(r.CPU.Cores) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.CPU.Cores)) {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, r.CPU.Cores[k]))
		}
		fmt.Fprintf(w, "  CPU (cores): %s; machine %.0f%% busy of %d cores\n", strings.Join(parts, ", "), 100*r.CPU.MachineBusy, r.CPU.NumCPU)
		if r.TurnsPerSec > 0 {
			parts = parts[:0]
			for _, k := range slices.Sorted(maps.Keys(r.CPU.Cores)) {
				parts = append(parts, fmt.Sprintf("%s %.0f", k, 1e6*r.CPU.Cores[k]/r.TurnsPerSec))
			}
			fmt.Fprintf(w, "  CPU per turn (us): %s\n", strings.Join(parts, ", "))
		}
	}
}

// Print writes the idle result for people.
func (r *IdleResult) Print(w io.Writer) {
	fmt.Fprintf(w, "bench %s idle: %d sockets (%d per session, %d source addresses) opened in %.1fs, held %.0fs\n",
		r.URL, r.Target, r.SocketsPerSession, r.SourceAddrs, r.OpenSec, r.HoldSec)
	fmt.Fprintf(w, "  opened:      %d of %d; still open after the hold %d; answered a ping %d\n", r.Opened, r.Target, r.Alive, r.Pongs)
	fmt.Fprintf(w, "  failed:      %s\n", formatCounts(r.Failed))
	row := func(name string, base, full int64, per float64, unit string) {
		if base < 0 || full < 0 {
			fmt.Fprintf(w, "  %-11s  unknown\n", name+":")
			return
		}
		fmt.Fprintf(w, "  %-11s  %s with %d sockets, %s with %d: %s per socket\n", name+":",
			unitOf(base, unit), r.Base.Sockets, unitOf(full, unit), r.Full.Sockets, perUnit(per, unit))
	}
	row("serve RSS", r.Base.RSS, r.Full.RSS, r.RSSPerSocket, "B")
	row("heap inuse", r.Base.HeapInuse, r.Full.HeapInuse, r.HeapPerSocket, "B")
	row("stack inuse", r.Base.StackInuse, r.Full.StackInuse, r.StackPerSocket, "B")
	row("goroutines", r.Base.Goroutines, r.Full.Goroutines, r.GoroutinesPerSocket, "")
	if r.Base.RedisConns < 0 || r.Full.RedisConns < 0 {
		fmt.Fprintf(w, "  redis conns: unknown (needs --serve-pid and the Redis address)\n")
	} else {
		fmt.Fprintf(w, "  redis conns: %d with %d sockets, %d with %d\n", r.Base.RedisConns, r.Base.Sockets, r.Full.RedisConns, r.Full.Sockets)
	}
}

func unitOf(v int64, unit string) string {
	if unit == "B" {
		return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
	}
	return fmt.Sprint(v)
}

func perUnit(v float64, unit string) string {
	if unit == "B" {
		return fmt.Sprintf("%.1f KiB", v/1024)
	}
	return fmt.Sprintf("%.2f", v)
}

// printTokens writes the per-token figures of a run against a streaming model
// (ModelFirstTokenMs set): what a token costs Redis and the app, and a finished reply's memory.
func (r *Result) printTokens(w io.Writer) {
	if r.ModelFirstTokenMs <= 0 || r.Tokens <= 0 {
		return
	}
	tokens := float64(r.Tokens)
	mean := 0.0
	if r.WindowReplies > 0 {
		mean = float64(r.ReplyBytes) / float64(r.WindowReplies)
	}
	fmt.Fprintf(w, "  tokens:      %d in the window (the words of %d replies; %.0f B of text a reply)\n", r.Tokens, r.WindowReplies, mean)
	if fd := r.FirstDelta; fd != nil && fd.N > 0 {
		fmt.Fprintf(w, "  first token: p50 %.2fms  p99 %.2fms after the model's own (%.0fms)\n", fd.P50-r.ModelFirstTokenMs, fd.P99-r.ModelFirstTokenMs, r.ModelFirstTokenMs)
	}
	var parts []string
	if c, ok := r.CPU.Cores["redis"]; ok {
		parts = append(parts, fmt.Sprintf("Redis CPU %.4f s", 1000*c*r.DurationSec/tokens))
	}
	app, ok := 0.0, false
	for _, k := range []string{"serve", "work"} {
		if c, has := r.CPU.Cores[k]; has {
			app, ok = app+c, true
		}
	}
	if ok {
		parts = append(parts, fmt.Sprintf("app CPU (serve + work) %.4f s", 1000*app*r.DurationSec/tokens))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  per 1,000 tokens: %s\n", strings.Join(parts, ", "))
	}
	if u := r.Redis; u != nil {
		fmt.Fprintf(w, "  per token:   %.2f Redis commands, %.0f B of Redis traffic\n", float64(u.Commands)/tokens, float64(u.NetBytes)/tokens)
		if r.Replies > 0 {
			per := float64(u.MemoryBytes) / float64(r.Replies)
			ratio := 0.0
			if mean > 0 {
				ratio = per / mean
			}
			fmt.Fprintf(w, "  Redis memory per finished reply: %.0f B (%.1fx its text; used_memory after the run over its %d replies, the message sent included)\n", per, ratio, r.Replies)
		}
	}
}
