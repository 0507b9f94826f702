#!/usr/bin/env bash
# fmt.sh - gofmt -w every .go file (see gofiles.sh for which).
set -euo pipefail

cd "$(dirname "$0")/.."

mapfile -t files < <(bash scripts/gofiles.sh)
((${#files[@]} == 0)) || gofmt -w "${files[@]}"
