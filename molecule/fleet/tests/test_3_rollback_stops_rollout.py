"""Preflight off, and the SMTP server refuses the new password of group B:
the first host of the group is rolled back to its exact files (content,
and the operator's own owner, group and mode, which differ from the role's),
still sends mail with its old settings, and the rollout stops there."""

import pytest

from alohatest import (ALOHA_FILES, file_checksums, file_digests, file_stats, fleet_b_host_sends, host, host_names,
                       server_state, stopped_rollout)

FIRST_B, LATER_B = host_names("fleet_b")[0], host_names("fleet_b")[1:]
REFUSED = "B-rotated-but-not-at-the-provider"


SETTINGS, SECRETS = ALOHA_FILES
# Not what the role writes (aloha:aloha, 0644 and 0640), still readable by Aloha.
OPERATOR_STATS = "root aloha 640 %s\naloha aloha 600 %s" % (SETTINGS, SECRETS)


@pytest.fixture(scope="module")
def rolled_back():
    h = host(FIRST_B)
    h.check_output("chown root:aloha %s && chmod 0640 %s && chmod 0600 %s" % (SETTINGS, SETTINGS, SECRETS))
    stats = file_stats(FIRST_B)
    restarts = h.file("/var/log/aloha/server.log").content_string.count("Restarting django server")
    try:
        yield dict(stopped_rollout({"vault_fleet_b_password": REFUSED, "aloha_email_preflight": False}, "rollback"),
                   restarts=restarts, stats=stats)
    finally:
        # The role's owner and modes again, for the later tests.
        h.check_output("chown aloha:aloha %s %s && chmod 0644 %s && chmod 0640 %s"
                       % (SETTINGS, SECRETS, SETTINGS, SECRETS))


def test_rollout_fails_and_stops(rolled_back):
    proc = rolled_back["proc"]
    assert proc.returncode == 2, proc.stdout
    assert "send_test_email failed (auth_refused)" in proc.stdout
    assert "SMTP preflight" not in proc.stdout
    assert REFUSED not in proc.stdout


def test_summary_shows_the_rollback(rolled_back):
    report = rolled_back["report"]
    row = report[FIRST_B]
    assert (row["status"], row["stage"], row["cause"], row["changed"], row["rolled_back"]) == \
        ("failed", "verify", "auth_refused", True, True)
    for name in LATER_B:
        assert report[name]["status"] == "skipped"


def test_files_are_restored_exactly_and_aloha_never_restarted(rolled_back):
    assert file_checksums(FIRST_B) == rolled_back["before"][FIRST_B]
    assert rolled_back["stats"] == OPERATOR_STATS
    assert file_stats(FIRST_B) == OPERATOR_STATS
    log = host(FIRST_B).file("/var/log/aloha/server.log").content_string
    # The test emails failed before any restart: Aloha kept running the old
    # files (role README, "How a run works").
    assert log.count("Restarting django server") == rolled_back["restarts"]
    state = server_state(FIRST_B)
    assert file_digests(FIRST_B) == {ALOHA_FILES[0]: state["settings"], ALOHA_FILES[1]: state["secrets"]}
    assert host(FIRST_B).service("aloha-server").is_running


@pytest.mark.parametrize("name", LATER_B)
def test_later_hosts_untouched(rolled_back, name):
    assert file_checksums(name) == rolled_back["before"][name]


def test_rolled_back_host_still_sends_with_its_old_settings(rolled_back):
    fleet_b_host_sends(FIRST_B)
