#!/usr/bin/env bash
# lint.sh - fail on unformatted Go files (gofmt -l), then go vet.
set -euo pipefail

cd "$(dirname "$0")/.."

mapfile -t files < <(bash scripts/gofiles.sh)
if ((${#files[@]} > 0)); then
	# gofmt -l also fails (exit 2) on files that don't parse.
	if ! unformatted=$(gofmt -l "${files[@]}"); then
		echo "lint.sh: gofmt failed" >&2
		exit 1
	fi
	if [[ -n "$unformatted" ]]; then
		echo "lint.sh: files not gofmt'ed (run make fmt):" >&2
		echo "$unformatted" >&2
		exit 1
	fi
fi

go vet ./...
