#!/usr/bin/env bash
# Installs the Debian packages nifhost needs, when they are missing.
# Idempotent; runs as root or through sudo. Nothing is downloaded from anywhere
# but Debian's archive.
set -euo pipefail

PACKAGES=(
  # build
  cmake make g++ clang clang-format clang-tidy pkg-config git
  # libraries
  libboost-dev libboost-filesystem-dev libfmt-dev libexpected-dev zlib1g-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  # the BEAM: erl_nif.h, and the real VM that results are checked against
  erlang-dev erlang-base
  # real NIF libraries hosted unmodified
  erlang-jiffy erlang-p1-xml erlang-p1-stringprep
  # reports: charts, a headless browser to check that the report renders, and
  # the report generator's interpreter
  gnuplot-nox chromium python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
