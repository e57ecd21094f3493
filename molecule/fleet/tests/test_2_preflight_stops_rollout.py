"""A wrong password for group B: the preflight stops the rollout on the
first host of that group before any change; the hosts after it are not
touched, and the summary says so."""

import pytest

from alohatest import file_checksums, fleet_recipient, host, host_names, messages, password_forms, stopped_rollout

ALOHA = host_names("aloha")
FIRST_B, LATER_B = host_names("fleet_b")[0], host_names("fleet_b")[1:]
WRONG = "Wr0ng-B%pass;#"


@pytest.fixture(scope="module")
def stopped():
    manage_logs = {name: host(name).file("/var/log/aloha/manage.log").content_string for name in ALOHA}
    server_logs = {name: host(name).file("/var/log/aloha/server.log").content_string for name in ALOHA}
    return dict(stopped_rollout({"vault_fleet_b_password": WRONG}, "preflight"),
                manage_logs=manage_logs, server_logs=server_logs)


def test_rollout_fails_with_the_preflight_cause(stopped):
    proc = stopped["proc"]
    assert proc.returncode == 2, proc.stdout
    assert "SMTP preflight failed (auth_refused)" in proc.stdout
    assert "Rollout stopped: 1 of 2 host(s)" in proc.stdout
    for form in password_forms(WRONG, "fleet-b@aloha.test"):
        assert form not in proc.stdout


def test_summary_says_who_failed_and_who_was_not_reached(stopped):
    report = stopped["report"]
    row = report[FIRST_B]
    assert (row["status"], row["stage"], row["cause"], row["changed"], row["rolled_back"]) == \
        ("failed", "preflight", "auth_refused", False, False)
    for name in LATER_B:
        assert report[name]["status"] == "skipped"
        assert report[name]["cause"].startswith("not reached")
    for name in host_names("fleet_a"):
        assert (report[name]["status"], report[name]["changed"]) == ("ok", False)
    # The summary table is on screen too.
    assert FIRST_B in stopped["proc"].stdout and "preflight: auth_refused" in stopped["proc"].stdout


def test_failed_host_is_untouched(stopped):
    assert file_checksums(FIRST_B) == stopped["before"][FIRST_B]
    assert host(FIRST_B).file("/var/log/aloha/server.log").content_string == stopped["server_logs"][FIRST_B]
    # The preflight sends no mail.
    assert not [m for m in messages() if fleet_recipient(FIRST_B) in m["rcpt_tos"]]


@pytest.mark.parametrize("name", LATER_B)
def test_hosts_after_it_are_not_touched(stopped, name):
    h = host(name)
    assert file_checksums(name) == stopped["before"][name]
    assert h.file("/var/log/aloha/manage.log").content_string == stopped["manage_logs"][name]
    assert h.file("/var/log/aloha/server.log").content_string == stopped["server_logs"][name]
