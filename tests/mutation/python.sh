#!/usr/bin/env bash
# Python mutation testing of the role's modules with mutmut 2 (pinned in
# requirements.txt). Not part of scripts/test: it takes hours on 2 cores.
#
# mutmut 2 mutates the source file in place, so this runs in a throw-away
# copy of the work tree (MUT_DIR, default /tmp/aloha-mutmut), never in the
# repository. Each module is run against its own unit test files only, with
# -x so a killed mutant stops at the first failure. The hypothesis property
# tests of a module run too, with 100 examples instead of 2000
# (ALOHA_PROPERTY_EXAMPLES); the other property tests are not selected.
# mutmut times out a mutant at 3x the baseline run plus the time base, and
# keeps the first module's baseline for every later module of MUT_DIR (a
# 2 s selection's baseline for a 30 s one): the time base is large so that
# only a real hang times out. recheck.sh then settles every mutant a run did
# not kill (survived, timed out, or left untested) one by one.
#
# Usage: tests/mutation/python.sh [module ...]   (default: all, cheapest first)
#        then: tests/mutation/recheck.sh [module ...]  (the score and the survivors)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/scripts/env.sh"
# shellcheck source=tests/mutation/selections.sh
source "$ROOT/tests/mutation/selections.sh"
MUT_DIR="${MUT_DIR:-/tmp/aloha-mutmut}"
if [ ! -d "$MUT_DIR" ]; then copy_work_tree "$ROOT" "$MUT_DIR"; fi
cd "$MUT_DIR"
export ALOHA_PROPERTY_EXAMPLES="${ALOHA_PROPERTY_EXAMPLES:-100}"
# Modules run in the pytest process (tests/unit/conftest.py), not through the
# ansible command: milliseconds instead of seconds per test. The tests that
# need the command (marked ansible_cli) still use it, after the others.
export ALOHA_UNIT_INPROCESS="${ALOHA_UNIT_INPROCESS:-1}"

if [ "$#" -gt 0 ]; then ORDER=("$@"); fi
for path in "${ORDER[@]}"; do
  echo "==> mutmut: $path ($(date -u +%H:%M:%S))"
  # mutmut exits non-zero when mutants survive; go on with the next module.
  # mutmut 2 counts only exit code 1 as killed: a mutant that breaks the
  # tests' collection (pytest exits 2, or 3 on an internal error) would
  # count as survived. Any failure is exit 1 here. mutmut's own timeout
  # kills the shell but not pytest (a hung test kept a run waiting): the
  # runner's timeout ends a hang as a failure, which is a kill.
  mutmut run --paths-to-mutate "$path" --tests-dir "$U" --no-progress \
    --test-time-base 300 --test-time-multiplier 3 \
    --runner "sh -c 'timeout 300 python -m pytest -x -q -p no:cacheprovider ${TESTS[$path]} || exit 1'" || true
done
mutmut results || true
