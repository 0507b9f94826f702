#!/usr/bin/env bash
# gofiles.sh - print the repo's .go files (tracked + untracked-but-not-ignored,
# vendor/ excluded), one per line, relative to the repo root.
set -euo pipefail

cd "$(dirname "$0")/.."

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -co --exclude-standard -- '*.go'
else
	find . -name '*.go' -not -path './.git/*' | sed 's|^\./||'
fi | { grep -v -e '^vendor/' -e '/vendor/' || true; } | while IFS= read -r f; do
	[[ -f "$f" ]] && printf '%s\n' "$f" # skip tracked files deleted from the worktree
done
