#!/usr/bin/env bash
# Runs every test of the workspace (CPU backend, release build: burn is ~100x slower unoptimized).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo test --release --workspace --locked "$@"
