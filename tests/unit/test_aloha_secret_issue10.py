"""aloha_secret: a BOM gets a clear message; the diff shows no secret,
neither a current value nor a commented-out old one (issue 10)."""

from __future__ import annotations

import pytest

import aloha_secret

PATH = "/etc/aloha/aloha-secrets.conf"


@pytest.mark.parametrize("text", ["\ufeff[secrets]\nsecret_key = k\n", "\ufeff# generated\n[secrets]\n"])
def test_bom_gets_a_clear_message(text):
    with pytest.raises(aloha_secret.SecretsFileError) as error:
        aloha_secret.compute(text, "email_password", "x1", "present", PATH)
    message = str(error.value)
    assert "byte order mark" in message and "BOM" in message
    assert "Add a line" not in message


def test_diff_never_shows_a_commented_out_secret():
    text = ("[secrets]\n# email_password = OldHunter2\n  ; email_password: Older3\n"
            "#OldestHunter1\nsecret_key = k3y\nemail_password = Current4\n")
    _, _, before, after = aloha_secret.compute(text, "email_password", "New5", "present", PATH)
    for diff in (before, after):
        for secret in ("OldHunter2", "Older3", "OldestHunter1", "k3y", "Current4", "New5"):
            assert secret not in diff
    assert "email_password = ******** (changed)\n" in after


def test_module_diff_through_ansible(run_module, tmp_path):
    path = tmp_path / "aloha-secrets.conf"
    path.write_text("[secrets]\n# email_password = OldHunter2\nemail_password = Current4\n")
    proc, result = run_module("aloha_secret", dict(path=str(path), value="{{ pw }}"),
                              secrets={"pw": "New5-secret"}, diff=True)
    assert result["changed"] is True
    assert (result["diff"]["before_header"], result["diff"]["after_header"]) == (str(path), str(path))
    output = proc.stdout + proc.stderr
    for secret in ("OldHunter2", "Current4", "New5-secret"):
        assert secret not in output
