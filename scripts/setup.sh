#!/usr/bin/env bash
# Installs the system packages deepvis needs to build on Debian/Ubuntu (when run as root or
# with sudo), and checks that cargo is there. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  build-essential pkg-config     # C compilers and pkg-config for -sys crates
  libclang-dev                   # nokhwa's bindgen (webcam)
  libv4l-dev                     # video4linux (webcam on Linux)
  libx11-dev libxcursor-dev libxrandr-dev libxi-dev libxkbcommon-dev libxkbcommon-x11-0
  libwayland-dev libgl1 libegl1 libvulkan1 mesa-vulkan-drivers   # eframe window and wgpu
  libssl-dev ca-certificates     # downloads
  ffmpeg                         # video files: decoding, recording (ffmpeg, ffprobe)
  xvfb                           # tests/window.rs: the window on a virtual screen
  chromium                       # tests/atlas.rs: the atlas's pages in a real browser
)

if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "setup: not a Debian system; install the equivalents of: ${packages[*]}" >&2
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing: install Rust 1.95 or newer (https://rustup.rs)" >&2
  exit 1
fi
