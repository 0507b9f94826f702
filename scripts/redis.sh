#!/usr/bin/env bash
# redis.sh - throwaway Redis servers for the test suite.
#
# Source it (same shell: the started PIDs live in shell variables):
#   source scripts/redis.sh
#   trap stop_all EXIT
#   start_single    # exports CHATBOT_TEST_REDIS_URL
#   start_cluster   # exports CHATBOT_TEST_REDIS_CLUSTER_URL
#   ...
#   stop_all        # idempotent, safe in a trap
#
# Or execute it:
#   scripts/redis.sh up          # start both, print the URLs, wait for Ctrl-C
#   scripts/redis.sh run CMD...  # start both, run CMD with the URLs set, stop
#
# Servers listen on 127.0.0.1 only, on random free ports (data ports in
# 11000-21999, cluster bus = port+10000, all below the kernel's ephemeral range),
# keep no data on disk and live in a `mktemp -d` dir removed by stop_all.
# Parallel runs don't collide: ports start from a random base, are checked
# free, and a server that still loses the race (bind error) is restarted on
# another port; readiness checks match the server's PID, not just a PONG.

_REDIS_SH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/deps.sh
source "$_REDIS_SH_DIR/deps.sh"

# Tunables (seconds).
: "${REDIS_START_TIMEOUT:=10}"   # one server answering PING
: "${REDIS_CLUSTER_TIMEOUT:=30}" # cluster converged after `--cluster create`

# State of this shell's servers (append-only until stop_all).
_REDIS_PIDS=()
_REDIS_BASE="" # mktemp -d holding one sub-dir per server
# For the caller: port of the last start_single, space-separated ports of the
# last start_cluster.
# shellcheck disable=SC2034
REDIS_SINGLE_PORT="" REDIS_CLUSTER_PORTS=""
_REDIS_SUBSHELL=$BASH_SUBSHELL

# The state above must be seen by stop_all: refuse to start servers from a
# subshell ($(start_single), start_cluster | tail, ...), they would leak.
_redis_same_shell() {
	((BASH_SUBSHELL == _REDIS_SUBSHELL)) && return 0
	_redis_log "call start_* in the shell that sources redis.sh, not in a subshell or pipeline"
	return 1
}

_redis_log() { echo "redis.sh: $*" >&2; }

# Microseconds since the epoch (EPOCHREALTIME uses the locale's decimal mark).
_redis_now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

# redis-cli that can't hang on a port held by something that never answers.
_rcli() { timeout 3 redis-cli "$@" 2>/dev/null; }

# _redis_port_free PORT : true when nothing listens on 127.0.0.1:PORT.
_redis_port_free() { ! (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# _redis_free_port [bus] : print a free port; with "bus", port+10000 too.
_redis_free_port() {
	local base=$((11000 + (RANDOM * 32768 + RANDOM) % 11000)) i p
	for ((i = 0; i < 11000; i++)); do
		p=$((11000 + (base - 11000 + i) % 11000))
		_redis_port_free "$p" || continue
		[[ "${1:-}" == bus ]] && ! _redis_port_free $((p + 10000)) && continue
		echo "$p"
		return 0
	done
	_redis_log "no free port found"
	return 1
}

# _redis_alive PID : process exists and is not a zombie.
_redis_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # drop "pid (comm) ": the state letter comes next
	[[ "${stat:0:1}" != Z ]]
}

# _redis_spawn NAME [bus] -- ARGS... : start a redis-server on a free port in
# $_REDIS_BASE/NAME-PORT, wait until it answers, and set _REDIS_PORT to its port.
# Retries on another port if the server dies (lost a port race).
_redis_spawn() {
	local name=$1 bus="" attempt port dir pid deadline info
	shift
	[[ "$1" == bus ]] && bus=bus && shift
	[[ "$1" == -- ]] && shift
	if [[ -z "$_REDIS_BASE" ]]; then
		_REDIS_BASE=$(mktemp -d "${TMPDIR:-/tmp}/chatbot-redis.XXXXXX") || return 1
	fi
	for attempt in 1 2 3 4 5; do
		port=$(_redis_free_port $bus) || return 1
		dir="$_REDIS_BASE/$name-$port"
		mkdir -p "$dir" || return 1
		# Background jobs of a non-interactive shell ignore SIGINT: only
		# stop_all stops the servers, even on Ctrl-C.
		(cd "$dir" && exec redis-server --bind 127.0.0.1 --port "$port" \
			--dir "$dir" --save '' --appendonly no --daemonize no \
			--protected-mode no --logfile '' "$@") >"$dir/redis.log" 2>&1 &
		pid=$!
		_REDIS_PIDS+=("$pid")
		deadline=$(($(_redis_now_us) + REDIS_START_TIMEOUT * 1000000))
		while _redis_alive "$pid" && (($(_redis_now_us) < deadline)); do
			# PONG, and from our process (not from a racing run's server).
			if [[ "$(_rcli -p "$port" ping)" == PONG ]]; then
				info=$(_rcli -p "$port" info server) || true
				if [[ "$info" == *"process_id:$pid"$'\r'* ]]; then
					_REDIS_PORT=$port
					return 0
				fi
			fi
			sleep 0.02
		done
		if _redis_alive "$pid"; then
			_redis_log "$name on :$port not ready after ${REDIS_START_TIMEOUT}s; log:"
			tail -n 20 "$dir/redis.log" >&2
			return 1
		fi
		_redis_log "$name on :$port exited (attempt $attempt), retrying on another port:"
		tail -n 3 "$dir/redis.log" >&2
		# Reap it and forget its PID (so stop_all can't hit a reused PID).
		wait "$pid" 2>/dev/null || true
		unset '_REDIS_PIDS[-1]'
		rm -rf -- "$dir"
	done
	_redis_log "$name: giving up after $attempt attempts"
	return 1
}

# start_single : one standalone server; exports CHATBOT_TEST_REDIS_URL.
start_single() {
	_redis_same_shell || return 1
	ensure_redis || return 1
	_redis_spawn single -- || return 1
	REDIS_SINGLE_PORT=$_REDIS_PORT
	export CHATBOT_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_SINGLE_PORT/0"
	_redis_log "single ready: $CHATBOT_TEST_REDIS_URL"
}

# _redis_view_ok PORT : this node's CLUSTER NODES lists 3 primaries and 3
# replicas attached to a primary, none failing or still handshaking (right
# after `--cluster create` gossip may still show replicas as primaries).
_redis_view_ok() {
	local nodes id flags master rest replicas=0 primaries=0
	nodes=$(_rcli -p "$1" cluster nodes) || return 1
	while read -r id _ flags master rest; do
		[[ -n "$id" ]] || continue
		case ",$flags," in
		*,fail*,* | *,handshake,* | *,noaddr,*) return 1 ;;
		*,slave,*) [[ "$master" != - ]] && ((++replicas)) ;;
		*,master,*) ((++primaries)) ;;
		esac
	done <<<"${nodes//$'\r'/}"
	((primaries == 3 && replicas == 3))
}

# start_cluster : 3 primaries + 3 replicas; exports CHATBOT_TEST_REDIS_CLUSTER_URL.
start_cluster() {
	_redis_same_shell || return 1
	ensure_redis || return 1
	local t0 i p ports=() addrs=() out info ok up masters=() deadline secs
	t0=$(_redis_now_us)
	for i in 1 2 3 4 5 6; do
		_redis_spawn "cluster$i" bus -- --cluster-enabled yes \
			--cluster-config-file nodes.conf --cluster-node-timeout 2000 \
			--repl-diskless-sync-delay 0 || return 1
		ports+=("$_REDIS_PORT")
		addrs+=("127.0.0.1:$_REDIS_PORT")
	done
	if ! out=$(timeout 60 redis-cli --cluster create "${addrs[@]}" \
		--cluster-replicas 1 --cluster-yes 2>&1); then
		_redis_log "redis-cli --cluster create failed:"
		echo "$out" >&2
		return 1
	fi

	# Converged = every node sees cluster_state:ok with all 6 nodes in their
	# final roles, and the 3 replicas have their replication link up.
	deadline=$(($(_redis_now_us) + REDIS_CLUSTER_TIMEOUT * 1000000))
	while :; do
		ok=0 up=0 masters=()
		for p in "${ports[@]}"; do
			info=$(_rcli -p "$p" cluster info) || true
			[[ "$info" == *"cluster_state:ok"* && "$info" == *"cluster_known_nodes:6"* ]] &&
				_redis_view_ok "$p" && ((++ok))
			info=$(_rcli -p "$p" info replication) || true
			case "$info" in
			*"role:master"*) masters+=("127.0.0.1:$p") ;;
			*"master_link_status:up"*) ((++up)) ;;
			esac
		done
		((ok == 6 && up == 3 && ${#masters[@]} == 3)) && break
		if (($(_redis_now_us) > deadline)); then
			_redis_log "cluster not ready after ${REDIS_CLUSTER_TIMEOUT}s" \
				"(state ok: $ok/6, replicas up: $up/3); node 1 says:"
			_rcli -p "${ports[0]}" cluster nodes >&2 || true
			return 1
		fi
		sleep 0.1
	done

	REDIS_CLUSTER_PORTS="${ports[*]}"
	# Seed the client with the primaries; it discovers the replicas itself.
	local url="redis://${masters[0]}?addr=${masters[1]}&addr=${masters[2]}"
	export CHATBOT_TEST_REDIS_CLUSTER_URL="$url"
	secs=$((($(_redis_now_us) - t0) / 1000))
	_redis_log "cluster ready in $((secs / 1000)).$(printf %03d $((secs % 1000)))s:" \
		"$CHATBOT_TEST_REDIS_CLUSTER_URL"
}

# stop_all : stop every server started by this shell and remove the temp dir.
# Idempotent; safe to call from a trap. Every command tolerates failure: the
# caller's `set -e` also applies inside an EXIT trap.
stop_all() {
	local pid deadline left
	if ((${#_REDIS_PIDS[@]} > 0)); then
		kill -TERM "${_REDIS_PIDS[@]}" 2>/dev/null || true
		# Give them 5 s to exit cleanly, then SIGKILL.
		deadline=$(($(_redis_now_us) + 5000000))
		while :; do
			left=0
			for pid in "${_REDIS_PIDS[@]}"; do
				_redis_alive "$pid" && ((++left))
			done
			((left == 0)) && break
			if (($(_redis_now_us) > deadline)); then
				kill -KILL "${_REDIS_PIDS[@]}" 2>/dev/null || true
				break
			fi
			sleep 0.05
		done
		# Reap them (they are children of this shell unless it forked since).
		for pid in "${_REDIS_PIDS[@]}"; do
			wait "$pid" 2>/dev/null || true
		done
	fi
	if [[ -n "$_REDIS_BASE" ]]; then
		rm -rf -- "$_REDIS_BASE" || true
	fi
	_REDIS_PIDS=()
	_REDIS_BASE=""
	# shellcheck disable=SC2034 # read by the caller
	REDIS_SINGLE_PORT="" REDIS_CLUSTER_PORTS=""
	unset CHATBOT_TEST_REDIS_URL CHATBOT_TEST_REDIS_CLUSTER_URL || true
	return 0
}

# run_child CMD... : run CMD in its own process group and return its status.
# INT/TERM received meanwhile (Ctrl-C, CI timeout) SIGTERM the whole group (go
# test and its test binaries), so nothing keeps running once stop_all has run.
# (A plain foreground command would delay our traps until it exits; SIGINT
# would not do, background jobs of a script start with SIGINT ignored.)
# Afterwards INT/TERM just exit (running the EXIT trap).
run_child() {
	local pid status
	setsid "$@" &
	pid=$!
	# shellcheck disable=SC2064 # expand $pid now
	trap "kill -TERM -- -$pid 2>/dev/null" INT TERM
	# wait returns >128 when a trapped signal interrupts it: wait again until
	# the child has really exited.
	while :; do
		status=0
		wait "$pid" || status=$?
		if ((status <= 128)) || ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
	done
	trap 'exit 130' INT
	trap 'exit 143' TERM
	return "$status"
}

# Executed directly (not sourced).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	trap stop_all EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cmd=${1:-up}
	shift || true
	case "$cmd" in
	up)
		start_single
		start_cluster
		echo "CHATBOT_TEST_REDIS_URL=$CHATBOT_TEST_REDIS_URL"
		echo "CHATBOT_TEST_REDIS_CLUSTER_URL=$CHATBOT_TEST_REDIS_CLUSTER_URL"
		echo "Servers running; Ctrl-C to stop." >&2
		wait # the servers never exit on their own: wait for a signal
		;;
	run)
		(($# > 0)) || { echo "usage: $0 run CMD [ARGS...]" >&2; exit 2; }
		start_single
		start_cluster
		status=0
		run_child "$@" || status=$?
		exit "$status"
		;;
	*)
		echo "usage: $0 [up | run CMD [ARGS...]]" >&2
		exit 2
		;;
	esac
fi
