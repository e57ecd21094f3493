"""The first rollout (converge): canary, then batches of two, over SSH; every
host changed and verified, and both test emails of every host at the SMTP
server with its group's settings."""

import re
import subprocess

import pytest

from alohatest import fleet_recipient, fleet_report, host, host_names, messages, ssh_dir

ALOHA = host_names("aloha")
GROUP = {name: ("fleet_a" if name in host_names("fleet_a") else "fleet_b") for name in ALOHA}
EXPECTED = {"fleet_a": (587, True, "aloha@aloha.test"), "fleet_b": (465, True, "fleet-b@aloha.test")}


def test_four_hosts_in_two_groups():
    assert len(ALOHA) >= 4
    assert sorted(set(GROUP.values())) == ["fleet_a", "fleet_b"]


def test_summary_reports_every_host_changed_and_verified():
    report = fleet_report("converge", "rollout.json")
    assert sorted(report) == sorted(ALOHA)
    for name, row in report.items():
        assert (row["status"], row["changed"], row["verified"], row["rolled_back"]) == \
            ("changed", True, True, False), row
    # The canary ran alone, then batches of two.
    assert report[ALOHA[0]]["batch"] == [ALOHA[0]]
    assert report[ALOHA[1]]["batch"] == ALOHA[1:3]


@pytest.mark.parametrize("name", ALOHA)
def test_rollout_came_over_ssh(name):
    h = host(name)
    assert h.service("ssh").is_running
    log = h.check_output("journalctl --no-pager -u ssh.service")
    # Ansible's key: the tests' own commands log in with another one.
    key = subprocess.run(["ssh-keygen", "-lf", str(ssh_dir(name) / "id_ed25519.pub")],
                         check=True, capture_output=True, text=True).stdout.split()[1]
    assert re.search(r"Accepted publickey for root from \S+ port \d+ ssh2: ED25519 %s$" % re.escape(key), log, re.M)


@pytest.mark.parametrize("name", ALOHA)
def test_both_test_emails_arrived_with_the_group_settings(name):
    msgs = [m for m in messages() if fleet_recipient(name) in m["rcpt_tos"]]
    assert [m["headers"]["Subject"] for m in msgs] == ["Aloha email test", "Aloha noreply email test"]
    assert msgs[0]["mail_from"] == "support@aloha.test"
    assert re.fullmatch(r"noreply-[a-z2-7]{24}@%s\.aloha\.test" % re.escape(name), msgs[1]["mail_from"])
    for m in msgs:
        assert (m["port"], m["tls"], m["auth_user"]) == EXPECTED[GROUP[name]]
