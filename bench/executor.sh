#!/usr/bin/env bash
# Interpreter overhead of the local Step Functions executor (ferry-local): a 10,000-item inline
# Map of Pass states, a 1,000-state Pass chain, a 100-branch Parallel.
# Usage: bench/executor.sh [criterion args...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p ferry-local --bench executor -- "$@"
