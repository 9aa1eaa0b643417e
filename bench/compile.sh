#!/usr/bin/env bash
# Compile-time benchmark of ferry-compile: a 1,000-step linear flow and a 300-branch split.
# Prints each flow's definition size against the 1 MB Step Functions limit, then criterion's
# timings (target: < 20 ms per compile). Usage: bench/compile.sh [criterion args...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p ferry-compile --bench compile -- "$@"
