# Sourced by the scripts: where builds go (outside the clone, so every clone shares one cache).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/deepvis/target}"
mkdir -p "$CARGO_TARGET_DIR"
