#!/usr/bin/env bash
# build.sh - build the static chatbot binary. `make build` and the Dockerfile both run this,
# so the image holds exactly what a local build makes.
#
#   scripts/build.sh                 # -> bin/chatbot
#   scripts/build.sh /out/chatbot    # another output path (relative paths: from the repo root)
#
# VERSION (default: git describe, else "dev") is stamped into `chatbot version`.
# GO names the go command (default go); GOOS/GOARCH cross-compile as usual.
set -euo pipefail

cd "$(dirname "$0")/.."

out=${1:-bin/chatbot}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

CGO_ENABLED=0 exec "${GO:-go}" build -trimpath -ldflags "-s -w -X chatbot/cmd.version=${version}" -o "$out" .
