#!/usr/bin/env bash
# fuzz.sh - run every fuzz target (func FuzzXxx in *_test.go) for $FUZZTIME.
#
#   FUZZTIME=2m scripts/fuzz.sh
#
# go test -fuzz takes one target in one package at a time, so loop over them.
set -euo pipefail

cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}

# "path/to/x_test.go:FuzzName" for every fuzz target outside vendor/.
mapfile -t targets < <(
	grep -rHo --include='*_test.go' --exclude-dir=vendor --exclude-dir=.git \
		-E '^func Fuzz[A-Za-z0-9_]*\(' . | sed -E 's/\($//; s/:func /:/' | sort
)
if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz targets found"
	exit 0
fi

for t in "${targets[@]}"; do
	file=${t%%:*} name=${t#*:}
	dir=$(dirname "$file")
	echo "== $name ($dir, $fuzztime)"
	go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "$dir"
done
