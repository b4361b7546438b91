#!/usr/bin/env bash
# Set up everything loopkit needs on a fresh Debian/Ubuntu machine, idempotently:
#   system packages (apt; as root or through sudo) and a virtual environment in .venv with loopkit installed.
# Usage: scripts/setup.sh [--test | --lab]
#   (no option: what `make book` needs; --lab adds JupyterLab for `make lab`; --test adds the test tools, JupyterLab
#    and Debian's Chromium + ChromeDriver for the browser tests)
# Environment: PYTHON (default python3), TORCH_SPEC (default torch==2.13.0; e.g. a CUDA build on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
extras="book"
case "${1:-}" in
  --test) want_test=1; extras="book,lab,test" ;;
  --lab) extras="book,lab" ;;
  "") ;;
  *) echo "setup: unknown option ${1} (use --test or --lab)" >&2; exit 2 ;;
esac

apt_packages="libfluidsynth3"
[ $want_test = 1 ] && apt_packages="$apt_packages chromium chromium-driver"

missing=""
if command -v dpkg >/dev/null 2>&1; then
  for p in $apt_packages; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
fi
# `loopkit data demo` fetches three Debian packages with `apt-get download`: it needs the package lists.
need_lists=0
if command -v apt-cache >/dev/null 2>&1 && ! apt-cache show freedoom >/dev/null 2>&1; then need_lists=1; fi
if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else sudo="none"; fi
if [ $need_lists = 1 ] && [ -z "$missing" ] && [ "$sudo" != none ]; then
  echo "setup: updating the apt package lists"
  $sudo apt-get update -qq
fi
if [ -n "$missing" ]; then
  if [ "$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install these system packages yourself:$missing" >&2
    exit 1
  fi
  echo "setup: installing system packages:$missing"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

# Jupyter kernels talk over the loopback interface.
if command -v ip >/dev/null 2>&1 && ip link show lo 2>/dev/null | grep -q "state DOWN"; then
  if [ "$(id -u)" = 0 ]; then ip link set lo up; else echo "setup: the loopback interface is down (ip link set lo up)" >&2; fi
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.setup-stamp"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
# the stamp holds the sources' hash and the extras installed with them: reinstall when either falls short
have_hash="" have_extras=""
[ -f "$stamp" ] && read -r have_hash have_extras < "$stamp" || true
if [ "${have_hash:-}" = "$want" ]; then
  all="$(printf '%s\n' ${have_extras//,/ } ${extras//,/ } | sort -u | paste -sd, -)"
  [ "$all" = "$(printf '%s\n' ${have_extras//,/ } | sort -u | paste -sd, -)" ] && extras="" || extras="$all"
fi
if [ -n "$extras" ]; then
  echo "setup: installing Python packages into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
  .venv/bin/python -m pip install -q -e ".[$extras]"
  echo "$want $extras" > "$stamp"
fi
