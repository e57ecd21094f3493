"""Aloha refuses to restart with the new configuration: the operator moves
group B's first host to port 587 in host_vars, but its server processes
refuse that port (the stand-in's STANDIN_SERVER_REFUSES_EMAIL_PORT, as a
real server can fail on a configuration manage.py accepts). The test
emails go out on the new files first (manage.py works), the restart fails,
and the role rolls the host back to its exact files (content, owner,
group, mode), restarts Aloha on them (two restarts in all), and the
rollout stops there with the cause restart_failed. With verification off
there is nothing to roll back to: the failed restart fails the host.
Afterwards the fleet is put back as it was and verified whole."""

import pytest

from alohatest import (ALOHA_FILES, FLEET_HOSTS, clear_messages, file_checksums, file_stats, fleet_b_host_sends,
                       fleet_recipient, fleet_report, host, host_activity, host_names, messages, password_forms,
                       run_fleet, stopped_rollout, write_file)

ALOHA = host_names("aloha")
FIRST_B, LATER_B = host_names("fleet_b")[0], host_names("fleet_b")[1:]
SETTINGS, SECRETS = ALOHA_FILES
EMAIL_DIR = "/var/log/aloha/emails"
HOST_VARS = FLEET_HOSTS.parent / "host_vars" / ("%s.yml" % FIRST_B)
LATER_HOST_VARS = [FLEET_HOSTS.parent / "host_vars" / ("%s.yml" % name) for name in LATER_B]
MOVE_TO_587 = "---\naloha_email_port: 587\naloha_email_use_ssl: false\naloha_email_use_tls: true\n"
OPERATOR_LINES = "\nSTANDIN_SERVER_REFUSES_EMAIL_PORT = 587\n"


def server_pid(h):
    return h.check_output("systemctl show --property=MainPID --value aloha-server.service")


@pytest.fixture(scope="module")
def failed_restart():
    h = host(FIRST_B)
    original = h.file(SETTINGS).content_string
    original_secrets = h.file(SECRETS).content_string
    had_email_dir = h.file(EMAIL_DIR).exists

    def put_back():
        HOST_VARS.unlink(missing_ok=True)
        for path in LATER_HOST_VARS:
            path.unlink(missing_ok=True)
        write_file(h, SETTINGS, original)
        write_file(h, SECRETS, original_secrets)
        if not had_email_dir:
            h.check_output("rm -rf %s" % EMAIL_DIR)
        # The unverified run left the server down on the refused port.
        h.check_output("systemctl restart aloha-server.service")

    write_file(h, SETTINGS, original + OPERATOR_LINES)
    HOST_VARS.parent.mkdir(exist_ok=True)
    HOST_VARS.write_text(MOVE_TO_587)
    for path in LATER_HOST_VARS:
        path.write_text(MOVE_TO_587)
    later = {name: host_activity(name) for name in LATER_B}
    stats = file_stats(FIRST_B)
    log = h.file("/var/log/aloha/server.log").content_string
    pid = server_pid(h)
    try:
        run = stopped_rollout({}, "restart")
        # What a restart of the stand-in does with the new files, seen from the role's output.
        yield dict(run, stats=stats, restarts=log.count("Restarting django server"), pid=pid,
                   log_length=len(log), put_back=put_back, later=later)
    finally:
        put_back()


def test_rollout_fails_with_the_restart_cause(failed_restart):
    proc = failed_restart["proc"]
    assert proc.returncode != 0, proc.stdout
    assert proc.returncode == 2, proc.stdout
    assert "Aloha did not restart with the new configuration (restart_failed)" in proc.stdout
    assert "exited with rc 1" in proc.stdout
    # The restart's own error, so the operator sees what Aloha refused.
    assert "aloha-server.service did not start" in proc.stdout
    assert "The previous configuration was restored and Aloha restarted with it." in proc.stdout
    assert "Rollout stopped: 1 of 2 host(s)" in proc.stdout
    for form in password_forms("B-fleet%pass;42", "fleet-b@aloha.test"):
        assert form not in proc.stdout


def test_summary_says_rolled_back_after_the_failed_restart(failed_restart):
    report = failed_restart["report"]
    row = report[FIRST_B]
    assert (row["status"], row["stage"], row["cause"], row["changed"], row["verified"], row["rolled_back"]) == \
        ("failed", "restart", "restart_failed", True, False, True), row
    assert "restart_failed" in row["message"]
    for name in LATER_B:
        assert report[name]["status"] == "skipped"
    for name in host_names("fleet_a"):
        assert (report[name]["status"], report[name]["changed"]) == ("ok", False)
    assert "restart: restart_failed" in failed_restart["proc"].stdout


def test_test_emails_went_out_on_the_new_files_before_the_restart(failed_restart):
    # stopped_rollout cleared the mailbox: these are the test before the restart.
    msgs = [m for m in messages() if fleet_recipient(FIRST_B) in m["rcpt_tos"]]
    assert [(m["port"], m["tls"]) for m in msgs] == [(587, True), (587, True)]


def test_files_are_restored_exactly(failed_restart):
    assert file_checksums(FIRST_B) == failed_restart["before"][FIRST_B]
    assert file_stats(FIRST_B) == failed_restart["stats"]


def test_aloha_restarted_on_the_old_configuration(failed_restart):
    h = host(FIRST_B)
    log = h.file("/var/log/aloha/server.log").content_string
    # The failed restart (new files), then the rollback's (old files).
    assert log.count("Restarting django server") == failed_restart["restarts"] + 2
    new = log[failed_restart["log_length"]:]
    pid = server_pid(h)
    assert pid != failed_restart["pid"]
    assert "aloha-server started pid %s" % pid in new and new.rstrip().endswith("Done!"), new
    assert h.service("aloha-server").is_running


@pytest.mark.parametrize("name", LATER_B)
def test_later_hosts_untouched(failed_restart, name):
    # They had a change pending: reached, they would show it.
    assert file_checksums(name) == failed_restart["before"][name]
    assert host_activity(name) == failed_restart["later"][name]


def test_rolled_back_host_still_sends_with_its_old_settings(failed_restart):
    fleet_b_host_sends(FIRST_B)


@pytest.fixture(scope="module")
def unverified(failed_restart):
    """The same change again, with aloha_email_verify: false."""
    log = host(FIRST_B).file("/var/log/aloha/server.log").content_string
    return dict(stopped_rollout({"aloha_email_verify": False}, "restart-unverified"),
                restarts=log.count("Restarting django server"))


def test_without_verification_the_failed_restart_fails_the_host(unverified):
    proc = unverified["proc"]
    assert proc.returncode == 2, proc.stdout
    assert "aloha-server.service did not start" in proc.stdout
    assert "Rollout stopped: 1 of 2 host(s)" in proc.stdout
    row = unverified["report"][FIRST_B]
    assert (row["status"], row["stage"], row["cause"], row["verified"], row["rolled_back"]) == \
        ("failed", "restart", "restart_failed", False, False), row
    # Nothing to roll back to: the new files stay; the one restart failed.
    assert file_checksums(FIRST_B) != unverified["before"][FIRST_B]
    log = host(FIRST_B).file("/var/log/aloha/server.log").content_string
    assert log.count("Restarting django server") == unverified["restarts"] + 1


def test_fleet_is_whole_again(failed_restart):
    """Without the operator's line and the host_vars, a forced verification
    of every host passes and changes nothing: later scenarios start clean."""
    failed_restart["put_back"]()
    clear_messages()
    proc = run_fleet("playbooks/rollout.yml", {"aloha_email_verify_force": True, "aloha_email_rollout_batch": 2},
                     report="restart-after")
    assert proc.returncode == 0, proc.stdout
    report = fleet_report("restart-after", "rollout.json")
    for name in ALOHA:
        assert (report[name]["status"], report[name]["verified"]) == ("ok", True), report[name]
        assert len([m for m in messages() if fleet_recipient(name) in m["rcpt_tos"]]) == 2
