"""Passwords with %, #, ;, =, :, quotes, backslash and {{ }} authenticate
for real against the SMTP server after a run. They come from an inline
!vault string, as the role README tells operators to store them."""

import pytest

from alohatest import (clear_messages, host, host_names, inline_vault_vars, messages, messages_for, run_role,
                       secrets_value, set_smtp_password, vault_password)

TARGET = host_names("aloha")[0]
PASSWORDS = [
    "p%a#s;s=w:o\"r'd\\1",
    "%(secret_key)s;#x=y:z\\'\"",
    "{{ lookup('env','HOME') }}{% raw %}#%",
]


@pytest.fixture(scope="module", autouse=True)
def restore_password():
    yield
    set_smtp_password(vault_password())
    assert run_role(TARGET).returncode == 0


@pytest.mark.parametrize("password", PASSWORDS)
def test_special_password_authenticates(password, tmp_path):
    set_smtp_password(password)
    clear_messages()
    vars_file = tmp_path / "vault.yml"
    inline_vault_vars(vars_file, "aloha_email_password", password)
    proc = run_role(TARGET, extra_args=["-e", "@%s" % vars_file])
    assert proc.returncode == 0, proc.stdout
    assert secrets_value(host(TARGET)).strip() == repr(password)
    msgs = messages_for(messages(), TARGET)
    assert len(msgs) == 2
    assert all(m["auth_user"] == "aloha@aloha.test" for m in msgs)
    assert password not in proc.stdout
