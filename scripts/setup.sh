#!/usr/bin/env bash
# Set up mgd_jax on a fresh Debian/Ubuntu machine (CPU is enough):
#   1. system libraries for headless rendering (Mesa EGL, OSMesa fallback) when missing,
#   2. a virtual environment in .venv with mgd_jax (editable) and its test extras.
# Safe to re-run: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libgles2 libosmesa6)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "setup: installing mgd_jax and dependencies into .venv (first run takes a few minutes)"
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -c "import mgd_jax, jax, mujoco; print('setup: ok, jax', jax.__version__, 'mujoco', mujoco.__version__)"
