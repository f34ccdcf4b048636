#!/usr/bin/env bash
# Runs deepvis. With no arguments: classifies the sample photos in ../shared/images with the
# default SqueezeNet; any arguments are passed to `deepvis` (try `scripts/run.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo build --release --locked -p deepvis
bin="$CARGO_TARGET_DIR/release/deepvis"
if [ $# -eq 0 ]; then
  shopt -s nullglob
  photos=(../shared/images/*.jpg ../shared/images/*.png)
  if [ ${#photos[@]} -eq 0 ]; then
    echo "run: no sample photos in ../shared/images; pass your own: scripts/run.sh classify PHOTO" >&2
    exit 1
  fi
  exec "$bin" classify "${photos[@]}"
fi
exec "$bin" "$@"
