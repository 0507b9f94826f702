#!/usr/bin/env bash
# bench.sh - `make bench`: measure chatbot on this machine and write docs/BENCHMARKS.md.
#
#   scripts/bench.sh                            # every scenario of issue 7 -> docs/BENCHMARKS.md
#   scripts/bench.sh -bench Send ./pkg/store    # only `go test -bench` with these arguments
#   BENCH_QUICK=1 BENCH_OUT=/tmp/b.md scripts/bench.sh   # a short smoke run, written elsewhere
#
# Everything runs on this one machine: a throwaway Redis (the script runs under
# internal/redistest/cmd/redistest, which starts it and stops it when the script ends; the Go
# benchmarks also start a 6-node cluster of their own), one `chatbot serve`, one `chatbot work`
# with the offline echo model, and `chatbot bench` driving the serve over HTTP/WebSocket. The
# document is written from scratch by pkg/bench/cmd/benchreport with the figures this run
# printed. A shared machine is noisy: compare figures within one run (ratios), and read the
# CPU lines (what each process and the whole machine used) before trusting an absolute number.
#
# Environment: BENCH_OUT (default docs/BENCHMARKS.md), BENCH_QUICK=1 (short durations and
# counts, for trying the script), CHATBOT_BIN (a binary to measure instead of building one),
# BENCH_OLD_BIN (a previous binary, e.g. the last main's: the throughput, latency and LLM
# stream scenarios run with it too, alternated, and the document gives the ratios) and
# BENCH_OLD_NAME (what to call it, default its `version`).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
source scripts/deps.sh

log() { echo "bench.sh: $*" >&2; }

ensure_redis

# With arguments: only the Go benchmarks, as `go test -bench . -benchmem ARGS` (the test
# binaries start the Redis servers they use).
if (($# > 0)); then
	pkgs=(./...)
	for arg in "$@"; do
		[[ "$arg" == -args ]] && break
		case "$arg" in
		. | ./* | ../* | chatbot | chatbot/*) pkgs=() ;;
		esac
	done
	exec go test -run '^$' -bench . -benchmem "$@" "${pkgs[@]}"
fi

# Run the rest under redistest, with a throwaway single node in CHATBOT_TEST_REDIS_URL (the
# Go benchmarks use it too). It passes INT and TERM on to this script and stops the node when
# the script ends.
if [[ -z "${BENCH_REDIS_STARTED:-}" ]]; then
	export BENCH_REDIS_STARTED=1
	exec go run ./internal/redistest/cmd/redistest -- bash "$PWD/scripts/bench.sh"
fi
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_commands redis-benchmark:redis-tools

OUT=${BENCH_OUT:-docs/BENCHMARKS.md}
if [[ -n "${BENCH_QUICK:-}" ]]; then
	DUR=3s SLOW_DUR=6s IDLE=2000 SLOW_SESSIONS=400 GOBENCHTIME=100ms HOLD=2s
else
	DUR=20s SLOW_DUR=20s IDLE=19000 SLOW_SESSIONS=2000 GOBENCHTIME=1s HOLD=10s
fi
SESSIONS=200 # the throughput and latency scenarios
RATE=1000    # the latency scenario

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatbot-bench.XXXXXX")
SERVE_PID="" WORK_PID="" MODEL_PID=""

# stop_proc PID : SIGTERM, then SIGKILL after 15s.
stop_proc() {
	local pid=$1 i
	[[ -n "$pid" ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	stop_proc "$MODEL_PID"
	stop_proc "$WORK_PID"
	stop_proc "$SERVE_PID"
	rm -rf -- "$tmp"
}
trap cleanup EXIT

# free_port : a free port below the ephemeral range.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((22000 + RANDOM % 8000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	log "no free port"
	return 1
}

# wait_http URL : until it answers 200, at most 15s.
wait_http() {
	local i
	for ((i = 0; i < 300; i++)); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.05
	done
	log "$1 did not answer in 15s"
	tail -n 5 "$tmp"/*.log >&2 || true
	return 1
}

# --- build ----------------------------------------------------------------------------
if [[ -n "${CHATBOT_BIN:-}" ]]; then
	bin=$CHATBOT_BIN
else
	bin=$tmp/chatbot
	log "building $bin"
	bash scripts/build.sh "$bin"
fi
version=$("$bin" version 2>/dev/null | head -1 || echo unknown)

# --- Redis ------------------------------------------------------------------------------
REDIS_URL=$CHATBOT_TEST_REDIS_URL # redis://127.0.0.1:PORT/0
RP=${REDIS_URL##*:}
RP=${RP%%/*}
REDIS_PID=$(redis-cli -p "$RP" info server | tr -d '\r' | sed -n 's/^process_id://p')
redis_version=$(redis-cli -p "$RP" info server | tr -d '\r' | sed -n 's/^redis_version://p')
# As the bundled Redis runs (docker-compose.yml, deploy/kubernetes/redis.yaml; docs/DEPLOY.md).
STREAM_NODE_MAX_BYTES=1024
redis-cli -p "$RP" config set stream-node-max-bytes "$STREAM_NODE_MAX_BYTES" >/dev/null

# --- reference: XADD on the same Redis, before anything else runs ----------------------
log "reference: redis-benchmark XADD"
xadd_p16=$(redis-benchmark -p "$RP" -n 200000 -P 16 -q XADD bench:s '*' f v 2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
xadd_p1=$(redis-benchmark -p "$RP" -n 100000 -c 50 -q XADD bench:s1 '*' f v 2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
redis-cli -p "$RP" del bench:s bench:s1 >/dev/null
log "XADD: ${xadd_p16}/s pipelined (-P 16), ${xadd_p1}/s with 50 clients one command at a time"

# --- Go benchmarks (before serve and work start: nothing else of ours competes) ---------
log "Go benchmarks (-benchtime $GOBENCHTIME)"
go test -run '^$' -bench . -benchmem -benchtime "$GOBENCHTIME" ./pkg/chat ./pkg/store | tee "$tmp/gobench.txt" >&2

# --- serve and work ---------------------------------------------------------------------
SP=$(free_port)
WP=$(free_port)
URL=http://127.0.0.1:$SP
common=(--redis.url "$REDIS_URL" --log.level warn --log.format text --session.ttl 15m
	--limits.messages_per_minute 1000000 --limits.max_pending 64
	--limits.sessions_per_minute_per_ip 1000000 --limits.sockets_per_session 8
	--limits.messages_per_minute_per_ip 0 --limits.sockets_per_ip 0 --limits.frames_per_second 1000000)

# in_dir_of BIN : in a subshell, run another binary than the one measured (BENCH_OLD_BIN) from an
# empty directory: this tree's config.yaml may hold keys it does not know.
in_dir_of() {
	if [[ "$1" != "$bin" ]]; then
		mkdir -p "$tmp/old"
		cd "$tmp/old"
	fi
}

# The serve holds up to 20,000 files (the idle scenario's sockets), and as many sockets:
# limits.max_sockets is set, not left to its default of 90% of the files.
# start_serve [BIN] : a serve of BIN (default the binary measured).
start_serve() {
	(
		ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
		in_dir_of "${1:-$bin}"
		exec "${1:-$bin}" serve "${common[@]}" --server.addr "127.0.0.1:$SP" --limits.max_sockets 20000
	) >>"$tmp/serve.log" 2>&1 &
	SERVE_PID=$!
	wait_http "$URL/readyz"
}

# start_work ECHO_DELAY CONCURRENCY [BIN [WORK_ARGS...]]
start_work() {
	(
		in_dir_of "${3:-$bin}"
		exec "${3:-$bin}" work "${common[@]}" --llm.provider echo --llm.echo_delay "$1" --replicas 1 --concurrency "$2" \
			--worker.shutdown_timeout 5s --worker.metrics_addr "127.0.0.1:$WP" "${@:4}"
	) >>"$tmp/work.log" 2>&1 &
	WORK_PID=$!
	wait_http "http://127.0.0.1:$WP/readyz"
}

# scenario NAME BENCH_ARGS... : one `chatbot bench`, printed and kept as NAME.json.
scenario() {
	local name=$1
	shift
	log "scenario $name: chatbot bench $*"
	(
		ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
		exec "$bin" bench --url "$URL" --redis.url "$REDIS_URL" --json-file "$tmp/$name.json" \
			--watch "redis=$REDIS_PID,serve=$SERVE_PID,work=$WORK_PID" "$@"
	) | tee "$tmp/$name.txt" >&2
}

start_serve
start_work 0s 64

# 1. instant model, 200 sessions, as fast as the replies come back.
scenario throughput --sessions "$SESSIONS" --pipeline 1 --duration "$DUR" --warmup 2s
# 2. the same sessions at a fixed 1000 messages/s: latency end to end.
scenario latency --sessions "$SESSIONS" --rate "$RATE" --duration "$DUR" --warmup 2s
# 2b. and at twice the rate (issue 15's tail: p99 <= 5 ms at 1,000 turns/s, <= 10 ms at 2,000).
scenario latency2 --sessions "$SESSIONS" --rate "$((2 * RATE))" --duration "$DUR" --warmup 2s
# With BENCH_OLD_BIN (say, the previous main): the same two scenarios with that binary's
# serve and work, alternated with this one's, old-new-old after the first: the ratios in the
# document are of the sums of each binary's two runs.
if [[ -n "${BENCH_OLD_BIN:-}" ]]; then
	for round in old new2 old2; do
		b=$bin
		[[ "$round" == old* ]] && b=$BENCH_OLD_BIN
		stop_proc "$WORK_PID"
		stop_proc "$SERVE_PID"
		start_serve "$b"
		start_work 0s 64 "$b"
		scenario "throughput-$round" --sessions "$SESSIONS" --pipeline 1 --duration "$DUR" --warmup 2s
		scenario "latency-$round" --sessions "$SESSIONS" --rate "$RATE" --duration "$DUR" --warmup 2s
	done
	stop_proc "$WORK_PID"
	stop_proc "$SERVE_PID"
	start_serve
	start_work 0s 64
fi
# 5. streaming: ack, first delta, and each delta from its write to Redis to the client. The
# worker writes every delta (worker.delta_interval 0ms): with the default 50ms the echo model's
# instant reply comes whole, and no delta would be measured.
stop_proc "$WORK_PID"
start_work 0s 64 "$bin" --worker.delta_interval 0ms
scenario streaming --sessions "$SESSIONS" --rate 500 --stream --duration "$DUR" --warmup 2s
stop_proc "$WORK_PID"
start_work 0s 64
# Redis commands per turn (MONITOR slows Redis: a low rate, for the counts only).
scenario roundtrips --sessions 50 --rate 200 --duration 3s --warmup 1s --redis-monitor
# 7. fairness: more busy sessions than slots (two consumers of 32 slots; every session keeps 4
# messages in flight): no session waits much longer than the rest, and nothing is left
# unanswered once the senders stop (--drain).
stop_proc "$WORK_PID"
start_work 0s 32 "$bin" --replicas 2
scenario fairness --sessions "$SESSIONS" --pipeline 4 --duration "$DUR" --warmup 2s --drain 15s
stop_proc "$WORK_PID"
start_work 0s 64

# 6. streams at LLM scale: a fake OpenAI-compatible model (`chatbot bench --model-addr`: 100
# words a reply, one every 25 ms), 200 sessions in closed loop with ?stream=1, their first
# messages spread over one reply's time (LLM_STAGGER) as independent users' are, for each
# worker.delta_interval of the curve: Redis and app CPU per 1,000 tokens, Redis commands and
# bytes per token, first token after the model's, Redis memory per finished reply. With
# BENCH_OLD_BIN, that binary's worker too (with its own defaults), between the windows. Last,
# the default window with the sessions in step (all started at once, so their replies begin
# and stream at the same instants).
MP=$(free_port)
"$bin" bench --model-addr "127.0.0.1:$MP" --model-words 100 --model-interval 25ms >>"$tmp/model.log" 2>&1 &
MODEL_PID=$!
for ((i = 0; i < 300; i++)); do
	(echo >"/dev/tcp/127.0.0.1/$MP") 2>/dev/null && break
	sleep 0.05
done
# start_llm_work BIN [WORK_ARGS...] : a worker of BIN on the fake model.
start_llm_work() {
	local b=$1
	shift
	(
		in_dir_of "$b"
		exec "$b" work "${common[@]}" --llm.provider openai --llm.base_url "http://127.0.0.1:$MP/v1" --llm.api_key bench \
			--replicas 1 --concurrency 256 --worker.shutdown_timeout 5s --worker.metrics_addr "127.0.0.1:$WP" "$@"
	) >>"$tmp/work.log" 2>&1 &
	WORK_PID=$!
	wait_http "http://127.0.0.1:$WP/readyz"
}
LLM_STAGGER=2500ms
# llm_scenario NAME [STAGGER] : the load, the sessions' starts spread over STAGGER.
llm_scenario() {
	scenario "$1" --sessions "$SESSIONS" --pipeline 1 --stream --duration "$DUR" --warmup 3s --model-first-token 25ms \
		--stagger "${2-$LLM_STAGGER}"
}
stop_proc "$WORK_PID"
LLM_WINDOWS="0ms 25ms 50ms 100ms"
for w in $LLM_WINDOWS; do
	start_llm_work "$bin" --worker.delta_interval "$w"
	llm_scenario "llm-$w"
	stop_proc "$WORK_PID"
	if [[ -n "${BENCH_OLD_BIN:-}" && "$w" == 25ms ]]; then
		start_llm_work "$BENCH_OLD_BIN"
		llm_scenario llm-old
		stop_proc "$WORK_PID"
	fi
done
start_llm_work "$bin"
llm_scenario llm-instep 0s
stop_proc "$WORK_PID"
stop_proc "$MODEL_PID"
MODEL_PID=""

# metric_of URL NAME : the value of an unlabelled series, or nothing.
metric_of() { curl -sf "$1" | sed -n "s/^$2 \([0-9.e+-]*\)\$/\1/p"; }

# 3. slow model: every reply takes 2s; 2000 sessions, each waiting for its reply. The worker's
# requests in flight are sampled meanwhile (unix time, value), to line up with the window.
stop_proc "$WORK_PID"
start_work 2s 4096
(
	while kill -0 "$WORK_PID" 2>/dev/null; do
		v=$(metric_of "http://127.0.0.1:$WP/metrics" chatbot_worker_requests_in_flight)
		[[ -n "$v" ]] && echo "$EPOCHREALTIME $v"
		sleep 0.25
	done
) >"$tmp/inflight.txt" 2>/dev/null &
sampler=$!
scenario slow --sessions "$SLOW_SESSIONS" --duration "$SLOW_DUR" --warmup 3s --drain 10s --connect-concurrency 128
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true

# 4. idle sockets, on a serve started afresh. Redis's own count of its clients is taken with
# the baseline's 10 sockets open and with all of them (the bench's sample of the serve's
# connections, from /proc, is in idle.json).
stop_proc "$SERVE_PID"
start_serve
clients() { redis-cli -p "$RP" client list | grep -vc 'cmd=client' || true; }
(
	ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	exec "$bin" bench --url "$URL" --redis.url "$REDIS_URL" --idle "$IDLE" --idle-base 10 --idle-hold "$HOLD" \
		--serve-pid "$SERVE_PID" --connect-concurrency 128 --json-file "$tmp/idle.json"
) | tee "$tmp/idle.txt" >&2 &
idle_pid=$!
redis_clients_base=unknown redis_clients_full=unknown
while kill -0 "$idle_pid" 2>/dev/null; do
	open=$(metric_of "$URL/metrics" chatbot_web_sockets_open)
	open=${open%.*}
	if [[ "$redis_clients_base" == unknown && "${open:-0}" -ge 10 ]]; then
		redis_clients_base=$(clients)
	fi
	if [[ "${open:-0}" -ge $((IDLE * 99 / 100)) ]]; then
		sleep 1
		redis_clients_full=$(clients)
		break
	fi
	sleep 0.05
done
wait "$idle_pid"

stop_proc "$WORK_PID"
WORK_PID=""
stop_proc "$SERVE_PID"
SERVE_PID=""

# --- the document -------------------------------------------------------------------------
log "writing $OUT"
cat >"$tmp/run.env" <<ENV
version='$version'
redis_version='$redis_version'
xadd_p16='$xadd_p16'
xadd_p1='$xadd_p1'
redis_clients_base='$redis_clients_base'
redis_clients_full='$redis_clients_full'
idle_target='$IDLE'
slow_sessions='$SLOW_SESSIONS'
sessions='$SESSIONS'
rate='$RATE'
llm_windows='$LLM_WINDOWS'
llm_stagger='$LLM_STAGGER'
old_bin='${BENCH_OLD_NAME:-${BENCH_OLD_BIN:+$("$BENCH_OLD_BIN" version 2>/dev/null | head -1)}}'
quick='${BENCH_QUICK:-}'
hold='$HOLD'
ENV
go run ./pkg/bench/cmd/benchreport "$tmp" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "done: $OUT"
