#!/usr/bin/env bash
# deps.sh - install missing system tools with apt (Debian 12, as root or via sudo).
#
# Source it and call the ensure_* functions, or run it directly:
#   scripts/deps.sh            # redis + chromium + promtool + C toolchain (for -race)
#   scripts/deps.sh redis      # only redis-server / redis-cli
#
# apt-get update runs at most once per run (also across child scripts, via an
# exported flag).

# apt_install PKG... : install Debian packages, running `apt-get update` first
# only once.
apt_install() {
	(($# > 0)) || return 0
	local sudo=()
	if ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			echo "deps.sh: need root (or sudo) to install: $*" >&2
			return 1
		fi
	fi
	if [[ "${CHATBOT_APT_UPDATED:-}" != 1 ]]; then
		echo "deps.sh: apt-get update" >&2
		"${sudo[@]}" apt-get update -qq || return 1
		export CHATBOT_APT_UPDATED=1
	fi
	echo "deps.sh: apt-get install $*" >&2
	local opts=(-y -qq)
	[[ -n "${APT_NO_RECOMMENDS:-}" ]] && opts+=(--no-install-recommends)
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${opts[@]}" "$@" || return 1
}

# ensure_commands CMD:PKG... : install PKG for every CMD that is not on PATH
# (one apt-get install for all of them).
ensure_commands() {
	local spec missing=()
	for spec in "$@"; do
		command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
	done
	((${#missing[@]} == 0)) && return 0
	# shellcheck disable=SC2046 # PKG may be a space-separated list on purpose
	apt_install $(printf '%s\n' "${missing[@]}" | sort -u) || return 1
	for spec in "$@"; do
		command -v "${spec%%:*}" >/dev/null 2>&1 || {
			echo "deps.sh: ${spec%%:*} still not on PATH after installing ${spec#*:}" >&2
			return 1
		}
	done
}

# Note: on a machine without systemd, installing redis-server may start
# Debian's own instance on :6379 via its init script. Harmless: we never use
# that port, the tests start their servers on random ports (internal/redistest).
ensure_redis() { ensure_commands redis-server:redis-server redis-cli:redis-tools; }

# promtool checks deploy/prometheus's alert rules (internal/consistency). Debian ships it in the
# prometheus package; without its recommends (no node exporter). Installing does not start a
# Prometheus where services are not started (containers: policy-rc.d); on a systemd host it
# may, on :9090, which no test uses.
ensure_promtool() {
	command -v promtool >/dev/null 2>&1 && return 0
	APT_NO_RECOMMENDS=1 apt_install prometheus || return 1
	command -v promtool >/dev/null 2>&1 || {
		echo "deps.sh: promtool still not on PATH after installing prometheus" >&2
		return 1
	}
}

# Browser tests drive Debian's chromium.
ensure_chromium() { ensure_commands chromium:chromium; }

# `go test -race` needs cgo, hence a C compiler and libc headers.
ensure_cc() { ensure_commands gcc:"gcc libc6-dev"; }

# Executed directly: install what the test suite needs.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	case "${1:-all}" in
	all) ensure_redis && ensure_chromium && ensure_promtool && ensure_cc ;;
	redis) ensure_redis ;;
	promtool) ensure_promtool ;;
	chromium) ensure_chromium ;;
	cc) ensure_cc ;;
	*)
		echo "usage: $0 [all|redis|chromium|promtool|cc]" >&2
		exit 2
		;;
	esac
fi
