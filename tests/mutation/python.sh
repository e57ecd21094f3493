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
# The machine is shared and loaded: a generous time base keeps slow runs
# from being called "suspicious" (timed out) instead of killed/survived.
#
# Usage: tests/mutation/python.sh [module ...]   (default: all, cheapest first)
#        then: cd $MUT_DIR && mutmut results
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/scripts/env.sh"
MUT_DIR="${MUT_DIR:-/tmp/aloha-mutmut}"
if [ ! -d "$MUT_DIR" ]; then
  mkdir -p "$MUT_DIR"
  (cd "$ROOT" && git ls-files | tar --ignore-failed-read -cf - -T - 2>/dev/null | tar -xf - -C "$MUT_DIR")
  # Uncommitted work in the role and tests counts too.
  cp -a "$ROOT/roles/aloha_email/." "$MUT_DIR/roles/aloha_email/"
  cp -a "$ROOT/tests/unit/." "$MUT_DIR/tests/unit/"
fi
cd "$MUT_DIR"
export ALOHA_PROPERTY_EXAMPLES="${ALOHA_PROPERTY_EXAMPLES:-100}"
# Modules run in the pytest process (tests/unit/conftest.py), not through the
# ansible command: milliseconds instead of seconds per test. The tests that
# need the command (marked ansible_cli) still use it, after the others.
export ALOHA_UNIT_INPROCESS="${ALOHA_UNIT_INPROCESS:-1}"

LIB=roles/aloha_email/library
UTILS=roles/aloha_email/module_utils
U=tests/unit
declare -A TESTS=(
  [$UTILS/aloha_email_scrub.py]="$U/test_aloha_email_scrub.py $U/test_properties.py::test_scrub_masks_every_form_and_keeps_the_user"
  [$UTILS/aloha_email_settings.py]="$U/test_settings_reader.py $U/test_aloha_settings_section.py $U/test_aloha_email_check.py $U/test_properties.py::test_settings_rewrite_gives_exactly_the_managed_values"
  [$LIB/aloha_email_facts.py]="$U/test_module_interfaces.py $U/test_aloha_email_facts.py $U/test_settings_reader.py"
  [$LIB/aloha_settings_section.py]="$U/test_module_interfaces.py $U/test_aloha_settings_section.py $U/test_settings_reader.py $U/test_properties.py::test_settings_rewrite_gives_exactly_the_managed_values"
  [$UTILS/aloha_email_files.py]="$U/test_aloha_snapshot.py"
  [$LIB/aloha_snapshot.py]="$U/test_module_interfaces.py $U/test_aloha_snapshot.py"
  [$LIB/aloha_restart.py]="$U/test_module_interfaces.py $U/test_aloha_restart.py $U/test_restart_failure.py"
  [$UTILS/aloha_email_smtp.py]="$U/test_aloha_email_smtp.py $U/test_aloha_send_test_email.py $U/test_aloha_smtp_preflight.py $U/test_sender_refused.py"
  [$LIB/aloha_smtp_preflight.py]="$U/test_module_interfaces.py $U/test_aloha_smtp_preflight.py $U/test_smtp_preflight_mutants.py $U/test_sender_refused.py"
  [$LIB/aloha_send_test_email.py]="$U/test_module_interfaces.py $U/test_aloha_send_test_email.py $U/test_send_test_email_mutants.py $U/test_sender_refused.py"
  [$UTILS/aloha_email_secrets.py]="$U/test_aloha_secret.py $U/test_aloha_secret_issue10.py $U/test_aloha_email_check.py $U/test_properties.py::test_secret_round_trips_and_the_diff_shows_no_secret"
  [$LIB/aloha_email_check.py]="$U/test_module_interfaces.py $U/test_aloha_email_check.py $U/test_invocation_log.py"
  [$LIB/aloha_secret.py]="$U/test_module_interfaces.py $U/test_aloha_secret.py $U/test_aloha_secret_issue10.py $U/test_properties.py::test_secret_round_trips_and_the_diff_shows_no_secret"
)
ORDER=(
  $UTILS/aloha_email_scrub.py
  $UTILS/aloha_email_settings.py
  $LIB/aloha_email_facts.py
  $LIB/aloha_settings_section.py
  $UTILS/aloha_email_files.py
  $LIB/aloha_snapshot.py
  $LIB/aloha_restart.py
  $UTILS/aloha_email_smtp.py
  $LIB/aloha_smtp_preflight.py
  $LIB/aloha_send_test_email.py
  $LIB/aloha_secret.py
  $UTILS/aloha_email_secrets.py
  $LIB/aloha_email_check.py
)
if [ "$#" -gt 0 ]; then ORDER=("$@"); fi
for path in "${ORDER[@]}"; do
  echo "==> mutmut: $path ($(date -u +%H:%M:%S))"
  # mutmut exits non-zero when mutants survive; go on with the next module.
  # mutmut 2 counts only exit code 1 as killed: a mutant that breaks the
  # tests' collection (pytest exits 2, or 3 on an internal error) would
  # count as survived. Any failure is exit 1 here.
  mutmut run --paths-to-mutate "$path" --tests-dir "$U" --no-progress \
    --test-time-base 60 --test-time-multiplier 3 \
    --runner "sh -c 'python -m pytest -x -q -p no:cacheprovider ${TESTS[$path]} || exit 1'" || true
done
mutmut results || true
