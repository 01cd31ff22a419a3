#!/usr/bin/env bash
# Wheel smoke test: the installed package must work outside the repository (issue 8 §1).
#
# Builds the wheel (pip wheel --no-deps .), installs it into a fresh venv and runs the CLI from an empty
# temporary directory: testbed list, link profiles, link coverage, a short run with a link profile and
# a short run of the YAML scenario port_entry_busy. It fails when a config/profile/data file the package
# reads is not shipped in the wheel.
#
# The fresh venv gets the package from the wheel only. Its third-party dependencies (numpy, numba, torch,
# hydra, ...) come from the project venv through one path line in a .pth file: re-installing ~2 GB of
# wheels would take minutes and the network, and the dependencies are not what is under test. Nested
# .pth files of that directory are NOT processed (only site dirs get that), so the project's editable
# install (__editable__*.pth -> the checkout) is invisible; the script checks that `testbed`, `vessels`,
# `harbour_maps` and `agents` are imported from the fresh venv, not from the checkout.
#
#   usage: .ci/wheel_smoke.sh [PROJECT_VENV]     (default .venv; `make wheel-smoke`)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PVENV=${1:-.venv}
PPY=$(cd "$PVENV/bin" && pwd)/python
WORK=$(mktemp -d "${TMPDIR:-/tmp}/testbed-wheel-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
t0=$SECONDS
step() { echo "wheel-smoke [$((SECONDS - t0)) s]: $*"; }

step "building the wheel from a clean copy of the working tree"
# A copy of the files git tracks (and untracked, not ignored ones): a stale *.egg-info/SOURCES.txt or
# build/ in the checkout (left by `pip install -e .`) would smuggle files into the wheel that the
# package-data globs do not ship.
mkdir -p "$WORK/src"
git -C "$REPO" ls-files -z --cached --others --exclude-standard \
  | (cd "$REPO" && xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' _) \
  | (cd "$REPO" && tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
# --no-build-isolation: setuptools/wheel from the project venv (offline, seconds instead of a download)
"$PPY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; echo "wheel-smoke: FAIL: pip wheel"; exit 1; }
WHEEL=$(ls "$WORK"/dist/duisburg_testbed-*.whl)
for f in testbed/conf/port_entry_busy.yaml testbed/conf/link/5g_sa.yaml testbed/conf/__init__.py; do
  "$PPY" - "$WHEEL" "$f" <<'PY' || { echo "wheel-smoke: FAIL: $f is not in $(basename "$WHEEL")"; exit 1; }
import sys, zipfile
sys.exit(0 if sys.argv[2] in zipfile.ZipFile(sys.argv[1]).namelist() else 1)
PY
done

step "installing $(basename "$WHEEL") into a fresh venv"
"$PPY" -m venv "$WORK/venv"
VPY=$WORK/venv/bin/python
"$VPY" -m pip install -q --no-deps --no-index "$WHEEL"
PSITE=$("$PPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
VSITE=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$PSITE" > "$VSITE/zz_project_deps.pth"   # dependencies only (see above)

RUN=$WORK/cwd
mkdir -p "$RUN"
cd "$RUN"
export MPLBACKEND=Agg SDL_VIDEODRIVER=dummy TESTBED_CACHE_DIR=$WORK/cache
unset PYTHONPATH
TB=$WORK/venv/bin/testbed

"$VPY" - "$WORK/venv" <<'PY'
import sys
import agents, harbour_maps, testbed, vessels
for m in (testbed, vessels, harbour_maps, agents):
    if not m.__file__.startswith(sys.argv[1]):
        sys.exit(f"wheel-smoke: FAIL: {m.__name__} imported from {m.__file__}, not from the fresh venv")
PY

step "testbed list"
"$TB" list | tee list.txt
grep -q "testbed/PortEntry-v0" list.txt

step "testbed link profiles"
"$TB" link profiles | tee profiles.txt
for p in ideal 5g_sa 5g_nsa lte degraded with_outages; do
  grep -q "^$p " profiles.txt || { echo "wheel-smoke: FAIL: link profile $p not listed"; exit 1; }
done

step "testbed link coverage --profile 5g_sa"
"$TB" link coverage --profile 5g_sa --resolution 50 --out cov.png
test -s cov.png

step "testbed run PortEntry-v0 link.profile=5g_sa"
"$TB" run PortEntry-v0 link.profile=5g_sa time_limit_s=60 --episodes 1 --out run_link
"$VPY" -c "import json; s = json.load(open('run_link/summary.json')); assert len(s['episodes']) == 1, s"

step "testbed run port_entry_busy"
"$TB" run port_entry_busy time_limit_s=30 --episodes 1 --out run_busy
"$VPY" -c "import json; s = json.load(open('run_busy/summary.json')); assert s['scenario'] == 'port_entry_busy', s"

step "OK"
