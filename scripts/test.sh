#!/usr/bin/env bash
# test.sh - `make test`: install what the test suite needs, then run it.
#
#   scripts/test.sh                       # go test -race -count=1 ./...
#   scripts/test.sh -run TestFoo          # extra go test flags
#   scripts/test.sh -run E2E ./e2e/...    # own package patterns replace ./...
#
# The tests start the Redis servers they use themselves (internal/redistest), so once
# redis-server is installed a plain `go test ./...` works too. Exits with go test's status.
# Works from any directory.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
source scripts/deps.sh

ensure_redis
ensure_chromium # browser tests
ensure_promtool # alert rules (internal/consistency)
ensure_cc       # -race needs cgo

# Test all packages unless the caller named some (./x, ./x/..., chatbot/x).
pkgs=(./...)
for arg in "$@"; do
	[[ "$arg" == -args ]] && break # the rest goes to the test binary
	case "$arg" in
	. | ./* | ../* | chatbot | chatbot/*) pkgs=() ;;
	esac
done

exec go test -race -count=1 -timeout 20m "$@" "${pkgs[@]}"
