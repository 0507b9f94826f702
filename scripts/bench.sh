#!/usr/bin/env bash
# bench.sh - run the Go benchmarks against throwaway Redis servers (see test.sh).
#
#   scripts/bench.sh                          # all benchmarks, all packages
#   scripts/bench.sh -bench Publish ./pkg/chat
#
# Placeholder: to be extended (benchstat, profiles, ...).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/redis.sh

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_single
start_cluster
echo "CHATBOT_TEST_REDIS_URL=$CHATBOT_TEST_REDIS_URL"
echo "CHATBOT_TEST_REDIS_CLUSTER_URL=$CHATBOT_TEST_REDIS_CLUSTER_URL"

# Benchmark all packages unless the caller named some (as in test.sh).
pkgs=(./...)
for arg in "$@"; do
	[[ "$arg" == -args ]] && break
	case "$arg" in
	. | ./* | ../* | chatbot | chatbot/*) pkgs=() ;;
	esac
done

# A later -bench in "$@" overrides the default one.
status=0
run_child go test -run '^$' -bench . -benchmem "$@" "${pkgs[@]}" || status=$?
exit "$status"
