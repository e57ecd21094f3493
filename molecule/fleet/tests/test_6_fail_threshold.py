"""How far a rollout goes when hosts fail: a failed canary stops it before
any other host; with aloha_email_rollout_max_fail_percentage=50 a batch
where half the hosts fail does not stop it, a batch where all fail does,
and the batches after it are not started.
Wrong passwords are stopped by the preflight, so no host changes.

"Not started" is read from the hosts and the SMTP server, not from the
playbook's report: a host the rollout reaches logs in to the SMTP server
(the preflight, pass or fail), so its AUTH count, its logs and files stay
as they were only when it was never reached."""

from alohatest import file_checksums, fleet_report, host_activity, host_names, run_fleet

ALOHA = host_names("aloha")
GROUP_A, GROUP_B = host_names("fleet_a"), host_names("fleet_b")
WRONG = "not-the-Pa55word"


def rollout(report, **extra):
    before = {name: file_checksums(name) for name in ALOHA}
    activity = {name: host_activity(name) for name in ALOHA}
    proc = run_fleet("playbooks/rollout.yml", dict(dict(aloha_email_rollout_batch=2), **extra), report=report)
    rows = fleet_report(report, "rollout.json")
    for name in ALOHA:
        assert file_checksums(name) == before[name]
    return proc, rows, activity


def test_failed_canary_stops_the_rollout_before_any_other_host():
    # Every host has a change pending (a new noreply address): a host the
    # rollout reached would run its preflight (an SMTP login) and change.
    proc, rows, activity = rollout("canary", vault_fleet_a_password=WRONG,
                                   aloha_email_noreply_address="noreply@canary.aloha.test")
    assert proc.returncode == 2, proc.stdout
    canary = [name for name in ALOHA if rows[name]["batch"] == [name]]
    assert canary == [GROUP_A[0]], rows
    assert (rows[canary[0]]["status"], rows[canary[0]]["cause"]) == ("failed", "auth_refused")
    assert "Rollout stopped: 1 of 1 host(s)" in proc.stdout
    # The canary was reached (its preflight logged in) ...
    assert host_activity(GROUP_A[0])["smtp_logins"] > activity[GROUP_A[0]]["smtp_logins"]
    # ... no other host was: each would have logged in, and group B's
    # (whose password is right) changed their files.
    for name in ALOHA[1:]:
        assert rows[name]["status"] == "skipped", rows[name]
        assert host_activity(name) == activity[name], name


def test_threshold_lets_a_half_failed_batch_pass_and_stops_a_failed_one():
    proc, rows, activity = rollout("threshold", vault_fleet_b_password=WRONG,
                                   aloha_email_rollout_max_fail_percentage=50)
    assert proc.returncode == 2, proc.stdout
    # Every host was reached: the batch with one failure of two went on.
    for name in GROUP_A:
        assert rows[name]["status"] == "ok", rows[name]
    for name in GROUP_B:
        assert (rows[name]["status"], rows[name]["stage"], rows[name]["cause"]) == \
            ("failed", "preflight", "auth_refused"), rows[name]
        assert host_activity(name)["smtp_logins"] > activity[name]["smtp_logins"], name
    mixed = [r["batch"] for r in rows.values() if len(r["batch"]) == 2]
    assert any(set(b) & set(GROUP_A) and set(b) & set(GROUP_B) for b in mixed), rows
    assert proc.stdout.count("Rollout stopped:") == 1
    assert "1 of 1 host(s) of this batch" in proc.stdout


def test_a_batch_where_all_fail_stops_the_batches_after_it():
    """Batches of one: canary A1, then A2, then B1 (fails: 100% > 50%),
    then B2, which must not be started. A2 passing shows the threshold
    does not stop on a batch without failures."""
    proc, rows, activity = rollout("threshold-stop", vault_fleet_b_password=WRONG,
                                   aloha_email_rollout_max_fail_percentage=50, aloha_email_rollout_batch=1)
    assert proc.returncode == 2, proc.stdout
    first_b, later_b = GROUP_B[0], GROUP_B[1:]
    assert [rows[name]["status"] for name in GROUP_A] == ["ok"] * len(GROUP_A), rows
    assert (rows[first_b]["status"], rows[first_b]["cause"]) == ("failed", "auth_refused"), rows[first_b]
    assert host_activity(first_b)["smtp_logins"] > activity[first_b]["smtp_logins"]
    assert "Rollout stopped: 1 of 1 host(s)" in proc.stdout
    assert later_b, "the scenario needs a host after the failed batch"
    for name in later_b:
        assert rows[name]["status"] == "skipped", rows[name]
        # Reached, its preflight would have logged in (and failed).
        assert host_activity(name) == activity[name], name
