#!/usr/bin/env bash
# Runs deepvis. With no arguments: opens the live toolbox with the default SqueezeNet, on the
# camera if there is one, else on the sample photos in ../shared/images. Any arguments are
# passed to `deepvis` (try `scripts/run.sh --help`, `scripts/run.sh classify PHOTO`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
# Built exactly as the tests build it (one set of features: no second build of the stack).
cargo test --release --workspace --locked --no-run 2>&1 | grep -vE '^\s+Executable' >&2
export DEEPVIS_ROOT="$PWD"
exec "$CARGO_TARGET_DIR/release/deepvis" "$@"
