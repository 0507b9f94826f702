#!/usr/bin/env bash
# test.sh - run the Go test suite against throwaway Redis servers.
#
#   scripts/test.sh                       # go test -race ... ./...
#   scripts/test.sh -run TestFoo          # extra go test flags
#   scripts/test.sh -run E2E ./e2e/...    # own package patterns replace ./...
#
# Exports CHATBOT_TEST_REDIS_URL and CHATBOT_TEST_REDIS_CLUSTER_URL to the
# tests; exits with go test's status. Works from any directory.
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/redis.sh

# Stop the servers however we leave; INT/TERM exit, which runs the EXIT trap.
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_redis
ensure_chromium # browser tests
ensure_cc       # -race needs cgo

start_single
start_cluster
echo "CHATBOT_TEST_REDIS_URL=$CHATBOT_TEST_REDIS_URL"
echo "CHATBOT_TEST_REDIS_CLUSTER_URL=$CHATBOT_TEST_REDIS_CLUSTER_URL"

# Test all packages unless the caller named some (./x, ./x/..., chatbot/x).
pkgs=(./...)
for arg in "$@"; do
	[[ "$arg" == -args ]] && break # the rest goes to the test binary
	case "$arg" in
	. | ./* | ../* | chatbot | chatbot/*) pkgs=() ;;
	esac
done

status=0
run_child go test -race -count=1 -timeout 20m "$@" "${pkgs[@]}" || status=$?
exit "$status"
