#!/usr/bin/env bash
# Sets up, builds and runs every nifhost test: the default build (warnings as
# errors), then the AddressSanitizer+UBSan build and the ThreadSanitizer build.
# Ends with CTest's summary line.
#   scripts/test.sh            all configurations
#   scripts/test.sh default    one configuration (default | asan | tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

JOBS=${NIFHOST_JOBS:-$(nproc)}
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(default asan tsan)

status=0
for preset in "${configs[@]}"; do
  echo "== ${preset}: configure and build"
  cmake --preset "ci-${preset}" >/dev/null
  cmake --build --preset "ci-${preset}" -j "${JOBS}"
  echo "== ${preset}: test"
  if ! ctest --preset "ci-${preset}" -j "${JOBS}"; then
    status=1
  fi
done
exit $status
