#!/usr/bin/env bash
# fuzz.sh - run every fuzz target (func FuzzXxx in a *_test.go) for $FUZZTIME each.
#
#   scripts/fuzz.sh                      # every target, FUZZTIME (default 30s) each
#   FUZZTIME=2m scripts/fuzz.sh          # longer
#   FUZZTIME=100000x scripts/fuzz.sh     # a number of executions instead of a duration
#   scripts/fuzz.sh ClientFrame ./pkg/chat   # only targets matching a regexp, in packages
#
# `make test` already runs every seed (testdata/fuzz/<Target>/ and f.Add) as a normal test;
# this explores beyond them. go test -fuzz takes one target in one package at a time, so the
# targets are listed with `go test -list` (build tags respected) and run one after the other.
# A failing input is written to <package>/testdata/fuzz/<Target>/ by go: commit it with the
# fix, it becomes a seed. Every target runs even when one fails; the exit status is 1 if any
# failed.
#
# Known Go bug (golang/go#75804, fixed in Go 1.27): with a duration FUZZTIME the coordinator
# may end a clean run with a bare "context deadline exceeded" and no failing input. Such a run
# is reported as a flake, not a failure; anything else that fails counts.
set -euo pipefail

cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
filter=.
if (($# > 0)) && [[ "$1" != ./* && "$1" != chatbot* ]]; then
	filter=$1
	shift
fi
pkgs=("$@")
((${#pkgs[@]} > 0)) || pkgs=(./...)

# "importpath Target" for every fuzz target. go test -list prints the names of a package's
# targets, then "ok  <importpath> ..."; a package that does not build fails the run (its
# targets would be skipped silently otherwise).
listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
if ! go test -run '^$' -list '^Fuzz' "${pkgs[@]}" >"$listing" 2>&1; then
	cat "$listing" >&2
	echo "fuzz.sh: listing the fuzz targets failed (a package does not build?)" >&2
	exit 1
fi
mapfile -t targets < <(
	awk '
		/^Fuzz/ { names[n++] = $1; next }
		/^ok / { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }
	' "$listing" | { grep -E " .*${filter}" || true; }
)
if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz targets match '$filter' in ${pkgs[*]}"
	exit 0
fi

echo "fuzz.sh: ${#targets[@]} targets, $fuzztime each"
passed=() failed=() flaked=()
for t in "${targets[@]}"; do
	pkg=${t% *} name=${t#* }
	dir=$(go list -f '{{.Dir}}' "$pkg")
	corpus="$dir/testdata/fuzz/$name"
	before=$(find "$corpus" -type f 2>/dev/null | sort || true)
	log=$(mktemp)
	echo "== $name ($pkg, $fuzztime)"
	set +e
	go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"
	status=${PIPESTATUS[0]}
	set -e
	after=$(find "$corpus" -type f 2>/dev/null | sort || true)
	if ((status == 0)); then
		passed+=("$name")
	elif [[ "$before" == "$after" ]] &&
		grep -qx -- "--- FAIL: $name ([0-9.]*s)" "$log" &&
		[[ "$(grep -A1 -- "--- FAIL: $name (" "$log" | tail -n 1)" == $'    context deadline exceeded' ]] &&
		! grep -q -- "--- FAIL: $name/" "$log"; then
		echo "fuzz.sh: $name: 'context deadline exceeded' without a failing input: golang/go#75804, not a bug found"
		flaked+=("$name")
	else
		new=$(comm -13 <(echo "$before") <(echo "$after") | sed 's/^/    /')
		[[ -z "$new" ]] || echo "fuzz.sh: $name: failing input written to:"$'\n'"$new"
		failed+=("$name")
	fi
	rm -f "$log"
done

echo "fuzz.sh: ${#passed[@]} passed, ${#flaked[@]} flaked (golang/go#75804), ${#failed[@]} failed${failed:+: ${failed[*]}}"
((${#failed[@]} == 0))
