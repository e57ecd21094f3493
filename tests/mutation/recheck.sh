#!/usr/bin/env bash
# Settle every mutant a python.sh run did not kill, one at a time, and
# print each module's score with its survivors.
#
# A mutmut 2 run leaves some mutants unsettled: a survivor whose selection
# ran past mutmut's timeout is "timeout" (which would count as a kill), and a
# few mutants are left untested. Here each mutant that MUT_DIR's run did not
# kill is applied with mutmut's own `mutmut apply ID` to a scratch copy of
# the work tree (the current tests and sources, a copy of MUT_DIR's cache),
# its module's selection (selections.sh) runs with a 5-minute limit (a
# selection takes under a minute; a mutant that makes a test hang shows as
# rc=124), and the source is put back. As in python.sh's runner, any
# failure is a kill: exit code 1 of pytest, a hang, or pytest stopping on
# an internal error (a module whose __main__ guard is inverted runs when a
# test imports it); the last two are listed apart. 0 is a survivor.
#
# Usage: [RECHECK_JOBS=2] MUT_DIR=/tmp/aloha-mutmut tests/mutation/recheck.sh [module ...]
#        (default: every module of the run's cache)
# Output: one line per mutant re-checked (ID, result, seconds, the change),
# then per module: mutants, killed, survived, score. Not part of scripts/test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/scripts/env.sh"
# shellcheck source=tests/mutation/selections.sh
source "$ROOT/tests/mutation/selections.sh"
MUT_DIR="${MUT_DIR:-/tmp/aloha-mutmut}"
# The selections mostly wait (SMTP sessions, subprocesses): several
# workers, each with its own scratch copy, share two cores well.
JOBS="${RECHECK_JOBS:-2}"
export ALOHA_PROPERTY_EXAMPLES="${ALOHA_PROPERTY_EXAMPLES:-100}"
export ALOHA_UNIT_INPROCESS="${ALOHA_UNIT_INPROCESS:-1}"
WORK="$(mktemp -d /tmp/aloha-recheck.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
for worker in $(seq 1 "$JOBS"); do
  copy_work_tree "$ROOT" "$WORK/$worker"
  cp "$MUT_DIR/.mutmut-cache" "$WORK/$worker/.run-cache"
done
# Python's sqlite3 module, not the sqlite3 command (not installed by setup).
sql() {
  python -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print("|".join(map(str, row)))' "$WORK/1/.run-cache" "$1"
}
FROM="from Mutant m join Line l on m.line = l.id join SourceFile f on l.sourcefile = f.id"

# check PATH ID...: in the current directory (a worker's copy), one line per
# mutant: ID, killed, survived, hang or crash(rc=N), seconds, the changed line.
check() {
  local path=$1 id change start rc result
  shift
  for id in "$@"; do
    cp .run-cache .mutmut-cache
    mutmut apply "$id" >/dev/null
    change=$(diff "$ROOT/$path" "$path" | grep '^>' | sed 's/^> *//' | head -c 160 || true)
    start=$SECONDS rc=0
    # shellcheck disable=SC2086
    timeout 300 python -m pytest -x -q -p no:cacheprovider ${TESTS[$path]} >/dev/null 2>&1 || rc=$?
    cp "$ROOT/$path" "$path"
    case $rc in
      1) result=killed ;;
      124) result=hang ;;
      0) result=survived ;;
      *) result="crash(rc=$rc)" ;;
    esac
    echo "$id $result $((SECONDS - start))s: $change"
  done
}

if [ "$#" -gt 0 ]; then MODULES=("$@"); else mapfile -t MODULES < <(sql "select filename from SourceFile order by id"); fi
summary=()
for path in "${MODULES[@]}"; do
  total=$(sql "select count(*) $FROM where f.filename = '$path'")
  run_killed=$(sql "select count(*) $FROM where f.filename = '$path' and m.status = 'ok_killed'")
  mapfile -t ids < <(sql "select m.id $FROM where f.filename = '$path' and m.status != 'ok_killed' order by m.id")
  echo "==> $path: $total mutants, $run_killed killed by the run, ${#ids[@]} to re-check, $JOBS at a time ($(date -u +%H:%M:%S))"
  for worker in $(seq 1 "$JOBS"); do
    mine=()
    for ((k = worker - 1; k < ${#ids[@]}; k += JOBS)); do mine+=("${ids[k]}"); done
    (cd "$WORK/$worker" && check "$path" "${mine[@]}" > out) &
  done
  wait
  sort -n "$WORK"/*/out
  killed=$((run_killed + $(cat "$WORK"/*/out | grep -c '^[0-9]* \(killed\|hang\|crash\)' || true)))
  survivors=$(awk '$2 == "survived" { print $1 }' "$WORK"/*/out | sort -n | tr '\n' ' ')
  hangs=$(awk '$2 == "hang" { print $1 }' "$WORK"/*/out | sort -n | tr '\n' ' ')
  other=$(awk '$2 ~ /^crash/ { print $1 }' "$WORK"/*/out | sort -n | tr '\n' ' ')
  n_survived=$(echo "$survivors" | wc -w)
  summary+=("$path: $total mutants, $killed killed, $n_survived survived ($(awk -v k="$killed" -v t="$total" 'BEGIN { printf "%.1f", t ? 100 * k / t : 0 }') %); survivors: ${survivors:-none}${hangs:+; killed by a hang: $hangs}${other:+; killed by a crash of pytest: $other}")
  rm -f "$WORK"/*/out
done
echo "==> summary (MUT_DIR=$MUT_DIR)"
printf '%s\n' "${summary[@]}"
