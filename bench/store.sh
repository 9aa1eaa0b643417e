#!/usr/bin/env bash
# Throughput of the SQLite Table adapter (ferry-store): put, get, add, concurrent add, query.
# Criterion reports land in target/criterion/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p ferry-store --bench table -- "$@"
