# shellcheck shell=bash
# Sourced by python.sh and recheck.sh: each module's unit test selection
# (TESTS), the order python.sh runs the modules in (ORDER, cheapest
# first), and the copy of the work tree both mutate. Paths are relative to
# the work tree's root.

# copy_work_tree ROOT DEST: the tracked files, with uncommitted work in the
# role and the unit tests (mutmut mutates the copy's sources in place).
copy_work_tree() {
  mkdir -p "$2"
  (cd "$1" && git ls-files | tar --ignore-failed-read -cf - -T - 2>/dev/null | tar -xf - -C "$2")
  cp -a "$1/roles/aloha_email/." "$2/roles/aloha_email/"
  cp -a "$1/tests/unit/." "$2/tests/unit/"
}

LIB=roles/aloha_email/library
UTILS=roles/aloha_email/module_utils
U=tests/unit
# shellcheck disable=SC2034  # used by python.sh and recheck.sh
declare -gA TESTS=(
  [$UTILS/aloha_email_scrub.py]="$U/test_aloha_email_scrub.py $U/test_properties.py::test_scrub_masks_every_form_and_keeps_the_user"
  [$UTILS/aloha_email_settings.py]="$U/test_settings_reader.py $U/test_aloha_settings_section.py $U/test_aloha_email_check.py $U/test_properties.py::test_settings_rewrite_gives_exactly_the_managed_values"
  [$LIB/aloha_email_facts.py]="$U/test_module_interfaces.py $U/test_aloha_email_facts.py $U/test_settings_reader.py"
  [$LIB/aloha_settings_section.py]="$U/test_module_interfaces.py $U/test_aloha_settings_section.py $U/test_settings_reader.py $U/test_properties.py::test_settings_rewrite_gives_exactly_the_managed_values"
  [$UTILS/aloha_email_files.py]="$U/test_aloha_snapshot.py"
  [$LIB/aloha_snapshot.py]="$U/test_module_interfaces.py $U/test_aloha_snapshot.py $U/test_invocation_log.py"
  [$LIB/aloha_restart.py]="$U/test_module_interfaces.py $U/test_aloha_restart.py $U/test_restart_failure.py"
  [$UTILS/aloha_email_smtp.py]="$U/test_aloha_email_smtp.py $U/test_aloha_send_test_email.py $U/test_aloha_smtp_preflight.py $U/test_sender_refused.py"
  [$LIB/aloha_smtp_preflight.py]="$U/test_module_interfaces.py $U/test_aloha_smtp_preflight.py $U/test_smtp_preflight_mutants.py $U/test_sender_refused.py"
  [$LIB/aloha_send_test_email.py]="$U/test_module_interfaces.py $U/test_aloha_send_test_email.py $U/test_send_test_email_mutants.py $U/test_sender_refused.py"
  [$UTILS/aloha_email_secrets.py]="$U/test_aloha_secret.py $U/test_aloha_secret_issue10.py $U/test_aloha_email_check.py $U/test_properties.py::test_secret_round_trips_and_the_diff_shows_no_secret"
  [$LIB/aloha_email_check.py]="$U/test_module_interfaces.py $U/test_aloha_email_check.py $U/test_invocation_log.py"
  [$LIB/aloha_secret.py]="$U/test_module_interfaces.py $U/test_aloha_secret.py $U/test_aloha_secret_issue10.py $U/test_properties.py::test_secret_round_trips_and_the_diff_shows_no_secret"
)
# shellcheck disable=SC2034
ORDER=(
  "$UTILS/aloha_email_scrub.py"
  "$UTILS/aloha_email_settings.py"
  "$LIB/aloha_email_facts.py"
  "$LIB/aloha_settings_section.py"
  "$UTILS/aloha_email_files.py"
  "$LIB/aloha_snapshot.py"
  "$LIB/aloha_restart.py"
  "$UTILS/aloha_email_smtp.py"
  "$LIB/aloha_smtp_preflight.py"
  "$LIB/aloha_send_test_email.py"
  "$LIB/aloha_secret.py"
  "$UTILS/aloha_email_secrets.py"
  "$LIB/aloha_email_check.py"
)
