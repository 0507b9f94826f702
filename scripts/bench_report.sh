#!/usr/bin/env bash
# bench_report.sh DIR - print docs/BENCHMARKS.md from the results scripts/bench.sh left in DIR:
# run.env (versions, reference figures), NAME.json and NAME.txt of every `chatbot bench`
# scenario, gobench.txt, inflight.txt. Every figure comes from those files.
# shellcheck disable=SC2154 # the run's variables come from run.env
set -euo pipefail

dir=$1
# shellcheck source=/dev/null
source "$dir/run.env"

j() { jq -r "$2" "$dir/$1.json"; }          # j NAME FILTER
num() { awk -v v="$1" -v f="$2" 'BEGIN{printf f, v}'; } # num VALUE FORMAT
ok() { if awk "BEGIN{exit !($1)}"; then echo "**met**"; else echo "**not met**"; fi; }

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem_gib=$(awk '/^MemTotal:/ {printf "%.1f", $2/1048576}' /proc/meminfo)
cores=$(nproc)

# CPU per turn of a scenario, by process: "redis 120 µs, serve 80 µs, ..." and their sum.
cpu_per_turn() {
	jq -r '. as $r | [.cpu.cores | to_entries[] | "\(.key) \(if $r.turns_per_s > 0 then (.value * 1e6 / $r.turns_per_s | round) else 0 end) µs"] | join(", ")' "$dir/$1.json"
}
cpu_sum_us() {
	jq -r 'if .turns_per_s > 0 then ([.cpu.cores[]] | add) * 1e6 / .turns_per_s | round else 0 end' "$dir/$1.json"
}
cpu_cores() {
	jq -r '[.cpu.cores | to_entries[] | "\(.key) \(.value * 100 | round / 100)"] | join(", ")' "$dir/$1.json"
}
busy() { jq -r '.cpu.machine_busy * 100 | round' "$dir/$1.json"; }
# the others: what the machine used beyond the bench and the watched processes, in cores.
others() { jq -r '(.cpu.machine_busy * .cpu.num_cpu - ([.cpu.cores[]] | add)) * 100 | round / 100 | if . < 0 then 0 else . end' "$dir/$1.json"; }
top_proc() { jq -r '.cpu.cores | to_entries | max_by(.value) | .key' "$dir/$1.json"; }

# --- figures ---
tput=$(j throughput '.turns_per_s')
lat_p50=$(j latency '.latency.p50_ms')
lat_p99=$(j latency '.latency.p99_ms')
lat_rate=$(j latency '.turns_per_s')
slow_tput=$(j slow '.turns_per_s')
slow_mean_s=$(j slow '.latency.mean_ms / 1000')
slow_little=$(awk -v t="$slow_tput" -v m="$slow_mean_s" 'BEGIN{printf "%.0f", t*m}')
ws=$(j slow '.window_start')
we=$(j slow '.window_end')
slow_gauge=$(awk -v s="$ws" -v e="$we" '$1>=s && $1<=e {print $2}' "$dir/inflight.txt" | sort -n |
	awk '{a[NR]=$1} END{if (NR==0) print "n/a"; else printf "%d (median of %d samples; max %d)", a[int((NR+1)/2)], NR, a[NR]}')
dd_p99=$(j streaming '.delta_delivery.p99_ms // "n/a"')
dd_n=$(j streaming '.delta_delivery.n // 0')
fd_p99=$(j streaming '.first_delta.p99_ms // "n/a"')
ack_p99=$(j streaming '.ack.p99_ms // "n/a"')
idle_pongs=$(j idle '.pongs')
idle_rss=$(j idle '.rss_per_socket_bytes')
idle_heap=$(j idle '.heap_per_socket_bytes')
idle_stack=$(j idle '.stack_per_socket_bytes')
idle_gor=$(j idle '.goroutines_per_socket')
idle_rc_base=$(j idle '.base.redis_conns')
idle_rc_full=$(j idle '.full.redis_conns')
rt_serve=$(j roundtrips '.round_trips.per_turn.serve // 0 | . * 100 | round / 100')
rt_work=$(j roundtrips '.round_trips.per_turn.work // 0 | . * 100 | round / 100')
rt_total=$(awk -v a="$rt_serve" -v b="$rt_work" 'BEGIN{printf "%.2f", a+b}')
in_scripts=$(j roundtrips '[.round_trips.in_scripts[]] | add // 0 | . * 10 | round / 10')

cat <<EOF
# Benchmarks

Written by \`make bench\` (scripts/bench.sh, report by scripts/bench_report.sh) on
$(date -u +"%Y-%m-%d %H:%M UTC"). Every figure below is one this run printed; run \`make bench\`
again to regenerate the whole page.$([[ -n "$quick" ]] && printf '\n\n**This is a short smoke run (BENCH_QUICK=1): durations and counts are reduced.**')

## Machine and method

| | |
|---|---|
| CPU | $cores × $cpu_model |
| memory | $mem_gib GiB |
| kernel | $(uname -sr) |
| Go | $(go env GOVERSION) |
| Redis | $redis_version (one throwaway node, no persistence, on loopback) |
| chatbot | $version |
| load average at the end | $(cut -d' ' -f1-3 /proc/loadavg) |

Everything runs on this one machine: Redis, one \`chatbot serve\`, one \`chatbot work\` (offline
\`echo\` model) and the load generator \`chatbot bench\`, which drives the serve like real users
over HTTP and WebSocket (\`POST /token\`, one socket per session, JSON message commands with a
\`client_id\`, replies matched to their message). Latency is from the moment a message was due
to the frame that answers it. Each scenario also prints the CPU each process used during the
measured window, in cores, and how busy the whole machine was: on a shared machine other
work competes with the run, so compare figures within one run, as ratios.

The serve runs with the limits raised for load (\`limits.messages_per_minute 1000000\`,
\`limits.max_pending 64\`, \`limits.sessions_per_minute_per_ip 1000000\`); every other
setting is the default.

## Targets

| # | target | measured | | what limits it |
|---|---|---|---|---|
| 1 | instant model, $sessions sessions: ≥ 5,000 turns/s | $(num "$tput" "%.0f") turns/s | $(ok "$tput >= 5000") | CPU: $(busy throughput)% of the $cores cores busy; per turn $(cpu_per_turn throughput) ($(cpu_sum_us throughput) µs in all, so about $(awk -v s="$(cpu_sum_us throughput)" -v c="$cores" 'BEGIN{ if (s>0) printf "%.0f", c*1e6/s; else print "?"}') turns/s if the run had the whole machine; other work used $(others throughput) cores) |
| 2 | at $rate turns/s: p50 ≤ 2 ms, p99 ≤ 10 ms end to end | p50 $lat_p50 ms, p99 $lat_p99 ms at $(num "$lat_rate" "%.0f") turns/s | $(ok "$lat_p50 <= 2 && $lat_p99 <= 10 && $lat_rate >= $rate * 0.95") | queueing for CPU: the machine was $(busy latency)% busy (other work $(others latency) cores); per turn $(cpu_per_turn latency) |
| 3 | echo_delay 2s, $slow_sessions sessions: one \`work\` keeps ≥ 1,000 replies in flight (≥ 500 turns/s) | $(num "$slow_tput" "%.0f") turns/s; in flight $slow_little by Little's law (turns/s × mean reply time $(num "$slow_mean_s" "%.2f") s), worker gauge $slow_gauge | $(ok "$slow_tput >= 500 && $slow_little >= 1000") | work used $(jq -r '.cpu.cores.work * 100 | round / 100' "$dir/slow.json") cores, Redis $(jq -r '.cpu.cores.redis * 100 | round / 100' "$dir/slow.json"); machine $(busy slow)% busy. Each reply in flight streams deltas and renews its lease every 500 ms: per turn $(cpu_per_turn slow) |
| 4 | $idle_target idle sockets on one serve: ≤ 16 KiB RSS per socket, Redis connections as with 10 sockets | $idle_pongs of $idle_target answered a ping after the hold; $(num "$idle_rss" "%.0f") B ($(awk -v b="$idle_rss" 'BEGIN{printf "%.1f", b/1024}') KiB) RSS per socket; Redis connections of the serve $idle_rc_base → $idle_rc_full (Redis's client list, whole system: $redis_clients_base → $redis_clients_full) | $(ok "$idle_pongs >= $idle_target && $idle_rss <= 16384 && $idle_rc_base == $idle_rc_full") | per socket: heap $(awk -v b="$idle_heap" 'BEGIN{printf "%.1f", b/1024}') KiB, goroutine stacks $(awk -v b="$idle_stack" 'BEGIN{printf "%.1f", b/1024}') KiB, $(num "$idle_gor" "%.2f") goroutines |
| 5 | streaming: first delta at the client ≤ 5 ms after the model emitted it (p99) | $dd_p99 ms p99 from the delta's write to Redis to the client ($dd_n deltas); send → first delta p99 $fd_p99 ms, send → ack p99 $ack_p99 ms | $(if [[ "$dd_p99" == n/a ]]; then echo "**not measured**"; else ok "$dd_p99 <= 5"; fi) | the delta's write time is the ms in its offset (Redis's clock, same machine), so the figure is up to 1 ms high, and leaves out the worker's own write (one script round trip); machine $(busy streaming)% busy |

Redis round trips per turn (MONITOR, scenario \`roundtrips\`): **$rt_total** — serve $rt_serve,
work $rt_work; the scripts run $in_scripts commands per turn inside Redis. Details below.

Reference on the same Redis, before anything else ran: \`redis-benchmark -n 200000 -P 16 XADD
bench:s '*' f v\`: **$(num "$xadd_p16" "%.0f") XADD/s**; one command at a time from 50 clients
(\`-n 100000 -c 50\`): $(num "$xadd_p1" "%.0f") XADD/s. A turn costs $rt_total round trips and
$in_scripts commands inside scripts: in the throughput scenario Redis spent
$(jq -r 'if .turns_per_s > 0 then .cpu.cores.redis * 1e6 / .turns_per_s | round else 0 end' "$dir/throughput.json") µs of CPU
per turn, so one Redis core alone would top out near
$(jq -r 'if .turns_per_s > 0 and .cpu.cores.redis > 0 then .turns_per_s / .cpu.cores.redis | round else 0 end' "$dir/throughput.json") turns/s.

## Scenarios, as printed

EOF

scenario_block() {
	local name=$1 title=$2 what=$3
	printf '### %s\n\n%s\n\n```text\n' "$title" "$what"
	cat "$dir/$name.txt"
	printf '```\n\n'
}
scenario_block throughput "1. Throughput: instant model, $sessions sessions" \
	"Closed loop, like real users: each session sends its next message as soon as the reply to the last one is back."
scenario_block latency "2. Latency at a fixed $rate messages/s" \
	"$sessions sessions, messages due at a fixed total rate; latency from when each was due."
scenario_block streaming "5. Streaming: ack, first delta, delta delivery" \
	"\`?stream=1\` sockets at 500 messages/s. \`delta Redis->client\` is, for every delta, from the time in its offset (when the worker's write reached Redis) to its arrival at the client. With the instant echo model a reply is often one message without a delta, so there are fewer deltas than turns."
scenario_block slow "3. Slow model: llm.echo_delay 2s, $slow_sessions sessions" \
	"\`chatbot work --replicas 1 --concurrency 4096 --llm.echo_delay 2s\`; each session sends its next message when the reply is back, so up to $slow_sessions replies are in flight."
scenario_block idle "4. Idle sockets" \
	"A serve started afresh; $idle_target sockets opened (one session each) and held $hold without traffic, then pinged. Per socket = (sample with all sockets − sample with 10) / the sockets in between. RSS from /proc/PID/status; heap, stacks and goroutines from the serve's /metrics; the serve's Redis connections from /proc (its TCP connections to the Redis port)."
scenario_block roundtrips "Redis commands per turn" \
	"MONITOR on the Redis during the window, at a low rate (MONITOR slows Redis down; these figures are counts, not speed). Each client connection is attributed to the process that owns it (/proc). EVALSHA is named after the script it runs."

cat <<EOF
## Go benchmarks

\`go test -run '^\$' -bench . -benchmem ./pkg/chat ./pkg/store\`, against the same throwaway
Redis (single) and a 6-node cluster on loopback, before serve and work started.

\`\`\`text
$(grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$dir/gobench.txt")
\`\`\`
EOF
