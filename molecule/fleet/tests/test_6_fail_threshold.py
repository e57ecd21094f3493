"""How far a rollout goes when hosts fail: a failed canary stops it before
any other host; with aloha_email_rollout_max_fail_percentage=50 a batch
where half the hosts fail does not stop it, a batch where all fail does.
Wrong passwords are stopped by the preflight, so no host changes."""

from alohatest import file_checksums, fleet_report, host_names, run_fleet

ALOHA = host_names("aloha")
GROUP_A, GROUP_B = host_names("fleet_a"), host_names("fleet_b")
WRONG = "not-the-Pa55word"


def rollout(report, **extra):
    before = {name: file_checksums(name) for name in ALOHA}
    proc = run_fleet("playbooks/rollout.yml", dict(extra, aloha_email_rollout_batch=2), report=report)
    rows = fleet_report(report, "rollout.json")
    for name in ALOHA:
        assert file_checksums(name) == before[name]
    return proc, rows


def test_failed_canary_stops_the_rollout_before_any_other_host():
    proc, rows = rollout("canary", vault_fleet_a_password=WRONG)
    assert proc.returncode == 2, proc.stdout
    canary = [name for name in ALOHA if rows[name]["batch"] == [name]]
    assert canary == [GROUP_A[0]], rows
    assert (rows[canary[0]]["status"], rows[canary[0]]["cause"]) == ("failed", "auth_refused")
    assert "Rollout stopped: 1 of 1 host(s)" in proc.stdout
    for name in ALOHA[1:]:
        assert rows[name]["status"] == "skipped", rows[name]


def test_threshold_lets_a_half_failed_batch_pass_and_stops_a_failed_one():
    proc, rows = rollout("threshold", vault_fleet_b_password=WRONG, aloha_email_rollout_max_fail_percentage=50)
    assert proc.returncode == 2, proc.stdout
    # Every host was reached: the batch with one failure of two went on.
    for name in GROUP_A:
        assert rows[name]["status"] == "ok", rows[name]
    for name in GROUP_B:
        assert (rows[name]["status"], rows[name]["stage"], rows[name]["cause"]) == \
            ("failed", "preflight", "auth_refused"), rows[name]
    mixed = [r["batch"] for r in rows.values() if len(r["batch"]) == 2]
    assert any(set(b) & set(GROUP_A) and set(b) & set(GROUP_B) for b in mixed), rows
    assert proc.stdout.count("Rollout stopped:") == 1
    assert "1 of 1 host(s) of this batch" in proc.stdout
