"""Tests of the aloha_secret module: its line editor (imported) and the
module run for real through `ansible localhost -m aloha_secret`."""

from __future__ import annotations

import configparser
import grp
import os
import pwd
import stat

import pytest

import aloha_secret
from conftest import TARGET_PYTHON
from ansible.module_utils import aloha_email_secrets as secrets_file

# A realistic secrets file: other secrets, comments, blank lines, another
# section, a "%" that interpolation would choke on.
SECRETS = (
    "# Aloha secrets, generated at install time.\n"
    "[secrets]\n"
    "avatar_salt = 0a1b2c3d4e5f\n"
    "secret_key = k%3Dz#x;y\n"
    "; rabbitmq is local\n"
    "rabbitmq_password = Rabbit:Pass=1\n"
    "\n"
    "\n"
    "[extra]\n"
    "# not read by Aloha\n"
    "email_password = outside-section\n"
)

OTHER_SECRET_VALUES = ["0a1b2c3d4e5f", "k%3Dz#x;y", "Rabbit:Pass=1", "outside-section"]

TRICKY_PASSWORDS = [
    "p%a#s;s=w:o\"r\\d' {{ x }}",
    "%(secret_key)s%%;#",
    "'single' \"double\"",
    "{{ lookup('env', 'HOME') }}",
    "\\back\\slash\\",
    "a:b=c#d;e [secrets]",
]


def read_secrets(path):
    parser = configparser.RawConfigParser()
    with open(path, encoding="utf-8") as handle:
        parser.read_file(handle)
    return parser


def write(path, text):
    path.write_bytes(text.encode("utf-8"))
    return path


# --- the line editor ---------------------------------------------------------

def test_compute_adds_key_after_last_line_of_section_keeping_other_bytes():
    new, action, before, after = aloha_secret.compute(
        SECRETS, "email_password", "v@l;ue", "present", "/x")
    assert action == "added"
    assert new == SECRETS.replace(
        "rabbitmq_password = Rabbit:Pass=1\n",
        "rabbitmq_password = Rabbit:Pass=1\nemail_password = v@l;ue\n")
    parser = configparser.RawConfigParser()
    parser.read_string(new)
    assert parser.get("secrets", "email_password") == "v@l;ue"
    assert parser.get("extra", "email_password") == "outside-section"


def test_compute_replaces_only_the_value_keeping_key_spelling_and_delimiter():
    text = "[secrets]\n  Email_Password :   old  \nsecret_key = abc\n# end\n"
    new, action, _, _ = aloha_secret.compute(text, "email_password", "n=w", "present", "/x")
    assert action == "updated"
    assert new == "[secrets]\n  Email_Password :   n=w\nsecret_key = abc\n# end\n"


def test_compute_unchanged_when_parsed_value_is_equal():
    text = "[secrets]\nEMAIL_PASSWORD=   same   \n"
    new, action, before, after = aloha_secret.compute(
        text, "email_password", "same", "present", "/x")
    assert (new, action) == (None, "unchanged")
    assert before == after == "[secrets]\nEMAIL_PASSWORD=   ********\n"


def test_compute_drops_continuation_lines_of_a_multiline_value():
    text = "[secrets]\nemail_password = old\n    second line\n\n    third\nzulip = 1\n"
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("secrets", "email_password") == "old\nsecond line\n\nthird"
    new, action, _, _ = aloha_secret.compute(text, "email_password", "new", "present", "/x")
    assert action == "updated"
    assert new == "[secrets]\nemail_password = new\n\nzulip = 1\n"


def test_indented_key_line_is_a_continuation_not_a_key():
    # RawConfigParser reads the indented line as part of secret_key's value.
    text = "[secrets]\nsecret_key = abc\n  email_password = fake\n"
    new, action, _, _ = aloha_secret.compute(text, "email_password", "real", "present", "/x")
    assert action == "added"
    parser = configparser.RawConfigParser()
    parser.read_string(new)
    assert parser.get("secrets", "secret_key") == "abc\nemail_password = fake"
    assert parser.get("secrets", "email_password") == "real"


def test_compute_inserts_right_after_header_of_empty_section_and_handles_missing_eol():
    new, _, _, _ = aloha_secret.compute("[secrets]", "email_password", "x", "present", "/x")
    assert new == "[secrets]\nemail_password = x\n"
    crlf = "[secrets]\r\nsecret_key = a\r\n"
    new, _, _, _ = aloha_secret.compute(crlf, "email_password", "x", "present", "/x")
    assert new == "[secrets]\r\nsecret_key = a\r\nemail_password = x\r\n"


@pytest.mark.parametrize("password", TRICKY_PASSWORDS)
def test_compute_round_trips_tricky_values(password):
    new, _, _, _ = aloha_secret.compute(SECRETS, "email_password", password, "present", "/x")
    parser = configparser.RawConfigParser()
    parser.read_string(new)
    assert parser.get("secrets", "email_password") == password
    assert parser.get("secrets", "secret_key") == "k%3Dz#x;y"


def test_compute_refuses_duplicate_key():
    text = "[secrets]\nemail_password = a\nEmail_Password: b\n"
    with pytest.raises(aloha_secret.SecretsFileError) as error:
        aloha_secret.compute(text, "email_password", "c", "present", "/etc/aloha/aloha-secrets.conf")
    assert str(error.value) == (
        "/etc/aloha/aloha-secrets.conf has 2 'email_password' entries in "
        "[secrets]; Aloha refuses to start with a duplicate key. Remove the "
        "extra line(s) by hand.")


@pytest.mark.parametrize("text", [
    "secret_key = abc\nemail_password = x\n",
    "# only comments\n\n",
    "[other]\nfoo = bar\n",
])
def test_compute_refuses_file_without_secrets_header(text):
    with pytest.raises(aloha_secret.SecretsFileError) as error:
        aloha_secret.compute(text, "email_password", "c", "present", "/etc/aloha/aloha-secrets.conf")
    message = str(error.value)
    assert "/etc/aloha/aloha-secrets.conf" in message
    assert "[secrets]" in message and "Add a line" in message


def test_compute_refuses_duplicate_section():
    with pytest.raises(aloha_secret.SecretsFileError, match="2 \\[secrets\\] headers"):
        aloha_secret.compute("[secrets]\na = 1\n[secrets]\nb = 2\n", "email_password",
                             "c", "present", "/x")


def test_compute_absent_removes_entry_and_continuations_only():
    text = "[secrets]\na = 1\nemail_password = x\n  more\n# keep\nb = 2\n"
    new, action, _, after = aloha_secret.compute(text, "email_password", None, "absent", "/x")
    assert action == "removed"
    assert new == "[secrets]\na = 1\n# keep\nb = 2\n"
    # Comment text is masked too (it may hold an old secret).
    assert after == "[secrets]\na = ********\n# ********\nb = ********\n"


def test_diff_masks_every_value_and_marks_the_change():
    _, _, before, after = aloha_secret.compute(
        SECRETS + "", "email_password", "NEWSECRET", "present", "/x")
    for text in (before, after):
        for value in OTHER_SECRET_VALUES + ["NEWSECRET"]:
            assert value not in text
    assert "secret_key = ********\n" in before
    assert "email_password = ******** (changed)\n" in after
    assert before.count("(changed)") == 0 and after.count("(changed)") == 1


EMPTY = "aloha_email_password is empty; set it (in the vault) to the SMTP password."
PADDED = ("aloha_email_password begins or ends with whitespace, which Aloha's RawConfigParser strips; "
          "remove it (and from the password at the SMTP provider if it really has such a character).")
CONTROL = ("aloha_email_password contains a newline, carriage return or other control character, which "
           "cannot be stored on one line of the secrets file; set a password without control characters.")
NON_ASCII = ("aloha_email_password contains a non-ASCII character; Aloha's SMTP client sends the login as "
             "ASCII, so it could never authenticate. Choose an ASCII-only password at the SMTP provider "
             "and store that.")


@pytest.mark.parametrize("value, message", [
    ("", EMPTY),
    (" leading", PADDED),
    ("trailing ", PADDED),
    ("two\nlines", CONTROL),
    ("carriage\rreturn", CONTROL),
    ("tab\there", CONTROL),
    ("bell\x07", CONTROL),
    ("p\u00e4ssword", NON_ASCII),
])
def test_value_problem_refuses_unusable_values(value, message):
    # The whole message: the variable, the cause and the fix, never the value.
    problem = aloha_secret.value_problem(value, "email_password")
    assert problem == message
    if value.strip():
        assert value.strip() not in problem


@pytest.mark.parametrize("value", TRICKY_PASSWORDS + ["x"])
def test_value_problem_accepts_special_characters(value):
    assert aloha_secret.value_problem(value, "email_password") is None


# --- the module run through Ansible ------------------------------------------

def run_secret(run_module, path, password=None, **kwargs):
    args = dict(path=str(path))
    secrets = {}
    if password is not None:
        args["value"] = "{{ pw }}"
        secrets["pw"] = password
    args.update(kwargs.pop("args", {}))
    return run_module("aloha_secret", args, secrets=secrets, **kwargs)


def assert_not_leaked(text, password):
    assert password not in text
    # Ansible's own masking of no_log values would show this placeholder in
    # results; a stray copy elsewhere would still be a leak.
    for value in OTHER_SECRET_VALUES:
        assert value not in text


@pytest.mark.parametrize("password", TRICKY_PASSWORDS)
def test_module_sets_password_round_trip_and_is_idempotent(run_module, tmp_path, password):
    path = write(tmp_path / "aloha-secrets.conf", SECRETS)
    proc, result = run_secret(run_module, path, password)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["changed"] is True
    assert result["msg"] == "%s: email_password added" % path
    content = path.read_text()
    # Every other line byte for byte, the new line after the last secret.
    assert content == SECRETS.replace(
        "rabbitmq_password = Rabbit:Pass=1\n",
        "rabbitmq_password = Rabbit:Pass=1\nemail_password = %s\n" % password)
    parser = read_secrets(path)
    assert parser.get("secrets", "email_password") == password
    assert parser.get("secrets", "secret_key") == "k%3Dz#x;y"
    assert password not in proc.stdout + proc.stderr

    proc, result = run_secret(run_module, path, password)
    assert proc.returncode == 0
    assert result["changed"] is False
    assert result["msg"] == "%s: email_password already up to date" % path
    assert path.read_text() == content
    # No backup, no temp file left behind.
    assert sorted(os.listdir(tmp_path / "")) == sorted(
        ["aloha-secrets.conf", "ansible.cfg", "secret-vars.yml"])


def test_module_replaces_changed_password_line_only(run_module, tmp_path):
    text = SECRETS.replace("avatar_salt", "email_password = old-one\navatar_salt")
    path = write(tmp_path / "aloha-secrets.conf", text)
    proc, result = run_secret(run_module, path, "brand;new#")
    assert result["changed"] is True, proc.stdout
    assert result["msg"].endswith("email_password updated")
    assert path.read_text() == text.replace("old-one", "brand;new#")


@pytest.mark.parametrize("value, fragment", [
    ("", "is empty"),
    (" leadingspace", "whitespace"),
    ("trailingspace ", "whitespace"),
    ("new\nline", "control character"),
    ("carriage\rreturn", "control character"),
    ("non-ascii-\u00e9t\u00e9", "non-ASCII"),
])
def test_module_refuses_unusable_values(run_module, tmp_path, value, fragment):
    path = write(tmp_path / "aloha-secrets.conf", SECRETS)
    proc, result = run_secret(run_module, path, value)
    assert proc.returncode != 0
    assert result["failed"] is True
    assert fragment in result["msg"] and "aloha_email_password" in result["msg"]
    assert path.read_text() == SECRETS
    if value.strip():
        assert value.strip() not in proc.stdout + proc.stderr


def test_module_refuses_duplicate_key(run_module, tmp_path):
    text = SECRETS.replace("avatar_salt", "email_password = one\nEMAIL_PASSWORD = two\navatar_salt")
    path = write(tmp_path / "aloha-secrets.conf", text)
    proc, result = run_secret(run_module, path, "three")
    assert result["failed"] is True
    assert result["msg"] == (
        "%s has 2 'email_password' entries in [secrets]; Aloha refuses to "
        "start with a duplicate key. Remove the extra line(s) by hand." % path)
    assert path.read_text() == text


def test_module_refuses_file_without_header(run_module, tmp_path):
    text = "secret_key = abc\nrabbitmq_password = def\n"
    path = write(tmp_path / "aloha-secrets.conf", text)
    proc, result = run_secret(run_module, path, "pw")
    assert result["failed"] is True
    assert str(path) in result["msg"] and "'[secrets]'" in result["msg"]
    assert path.read_text() == text


def test_module_refuses_unparsable_file_without_quoting_it(run_module, tmp_path):
    # A duplicate of another secret: Aloha would not start; the error must
    # not quote the line (it holds a secret).
    text = "[secrets]\nsecret_key = hush-one\nsecret_key = hush-two\n"
    path = write(tmp_path / "aloha-secrets.conf", text)
    proc, result = run_secret(run_module, path, "pw")
    assert result["failed"] is True
    assert "DuplicateOptionError" in result["msg"]
    assert "hush" not in proc.stdout + proc.stderr
    assert path.read_text() == text


def test_module_creates_missing_file_with_owner_group_mode(run_module, tmp_path):
    path = tmp_path / "aloha-secrets.conf"
    if os.geteuid() == 0:
        owner, group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    else:
        owner, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    proc, result = run_secret(run_module, path, "fresh%pw",
                              args=dict(owner=owner, group=group, mode="0640"))
    assert result["changed"] is True, proc.stdout
    assert path.read_text() == "[secrets]\nemail_password = fresh%pw\n"
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert pwd.getpwuid(info.st_uid).pw_name == owner
    assert grp.getgrgid(info.st_gid).gr_name == group


def test_module_applies_mode_on_unchanged_content(run_module, tmp_path):
    path = write(tmp_path / "aloha-secrets.conf", "[secrets]\nemail_password = same\n")
    path.chmod(0o644)
    # The role's dry run: a mode to fix alone is a needed change.
    proc, result = run_secret(run_module, path, "same", check=True, args=dict(mode="0640"))
    assert result["needs_change"] is True and stat.S_IMODE(path.stat().st_mode) == 0o644
    proc, result = run_secret(run_module, path, "same", args=dict(mode="0640"))
    assert result["changed"] is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    proc, result = run_secret(run_module, path, "same", args=dict(mode="0640"))
    assert result["changed"] is False and result["needs_change"] is False


def test_module_create_false_fails_on_missing_file(run_module, tmp_path):
    path = tmp_path / "aloha-secrets.conf"
    proc, result = run_secret(run_module, path, "pw", args=dict(create=False))
    assert result["failed"] is True
    assert "does not exist" in result["msg"]
    assert not path.exists()


def test_check_mode_writes_nothing(run_module, tmp_path):
    path = write(tmp_path / "aloha-secrets.conf", SECRETS)
    path.chmod(0o600)
    before = path.stat()
    proc, result = run_secret(run_module, path, "would-be", check=True,
                              args=dict(mode="0640"))
    assert result["changed"] is True and result["needs_change"] is True
    assert path.read_text() == SECRETS
    after = path.stat()
    assert (after.st_mtime_ns, after.st_ino, stat.S_IMODE(after.st_mode)) == (
        before.st_mtime_ns, before.st_ino, 0o600)

    missing = tmp_path / "missing.conf"
    proc, result = run_secret(run_module, missing, "would-be", check=True)
    assert result["changed"] is True
    assert not missing.exists()


def test_state_absent_removes_only_that_line(run_module, tmp_path):
    text = SECRETS.replace("avatar_salt", "email_password = gone\navatar_salt")
    path = write(tmp_path / "aloha-secrets.conf", text)
    proc, result = run_module("aloha_secret", dict(path=str(path), state="absent"))
    assert result["changed"] is True
    assert result["msg"] == "%s: email_password removed" % path
    assert path.read_text() == SECRETS
    proc, result = run_module("aloha_secret", dict(path=str(path), state="absent"))
    assert result["changed"] is False
    assert result["msg"] == "%s: email_password already absent" % path


@pytest.mark.ansible_cli
def test_password_never_in_verbose_diff_output(run_module, tmp_path):
    password = "Sup3r;Secret#Value%{{ nope }}"
    text = SECRETS.replace("avatar_salt", "email_password = Old;Secret#Value\navatar_salt")
    path = write(tmp_path / "aloha-secrets.conf", text)
    proc, _ = run_secret(run_module, path, password, diff=True, verbosity=3,
                         json_output=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "CHANGED" in output
    assert_not_leaked(output, password)
    assert "Old;Secret#Value" not in output
    # The diff is shown, masked, with the change marked.
    assert "-email_password = ********" in output
    assert "+email_password = ******** (changed)" in output
    assert "secret_key = ********" in output
    assert read_secrets(path).get("secrets", "email_password") == password


@pytest.mark.ansible_cli
def test_password_not_in_failure_output(run_module, tmp_path):
    password = "Sup3r;Secret\nSecond"
    path = write(tmp_path / "aloha-secrets.conf", SECRETS)
    proc, _ = run_secret(run_module, path, password, diff=True, verbosity=3,
                         json_output=False)
    output = proc.stdout + proc.stderr
    assert "FAILED" in output
    assert "Sup3r;Secret" not in output and "Second" not in output


@pytest.mark.ansible_cli
def test_module_runs_on_each_target_python(run_module, tmp_path, target_python):
    python = target_python
    path = write(tmp_path / "aloha-secrets.conf", SECRETS)
    proc, result = run_secret(run_module, path, "py;%version", python=python,
                              args=dict(mode="0640"))
    assert result["changed"] is True, proc.stdout + proc.stderr
    assert read_secrets(path).get("secrets", "email_password") == "py;%version"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_module_edits_symlink_target_and_keeps_link(run_module, tmp_path):
    real = write(tmp_path / "real-secrets.conf", SECRETS)
    link = tmp_path / "aloha-secrets.conf"
    link.symlink_to(real)
    proc, result = run_secret(run_module, link, "via-link")
    assert result["changed"] is True, proc.stdout
    assert link.is_symlink()
    assert read_secrets(real).get("secrets", "email_password") == "via-link"


def test_state_present_needs_a_value(run_module, tmp_path):
    path = tmp_path / "aloha-secrets.conf"
    path.write_text("[secrets]\nemail_password = old\n")
    _, result = run_module("aloha_secret", dict(path=str(path), state="present"))
    assert result["failed"] is True
    assert result["msg"] == "state is present but all of the following are missing: value"
    assert path.read_text() == "[secrets]\nemail_password = old\n"


def test_a_created_file_is_private_without_a_mode(run_module, tmp_path):
    path = tmp_path / "aloha-secrets.conf"
    proc, result = run_secret(run_module, path, "fresh%pw")
    assert result["msg"] == "%s created with email_password" % path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_bytes_that_are_not_utf8_are_kept(run_module, tmp_path):
    # An operator's latin-1 comment: the rewrite keeps its bytes as they were.
    path = tmp_path / "aloha-secrets.conf"
    path.write_bytes(b"[secrets]\n# caf\xe9\nemail_password = old\n")
    proc, result = run_secret(run_module, path, "new")
    assert result["changed"] is True, result
    assert path.read_bytes() == b"[secrets]\n# caf\xe9\nemail_password = new\n"


# --- the line editor: edges (mutation testing, issue 13) ----------------------

PATH = "/etc/aloha/aloha-secrets.conf"


def refusal(call, *args):
    with pytest.raises(secrets_file.SecretsFileError) as error:
        call(*args)
    return str(error.value)


@pytest.mark.parametrize("text, message", [
    ("email_password = x\n[secrets]\n",
     PATH + " has lines before any section header and no [secrets] header above them; Aloha "
     "cannot read it. Add a line '[secrets]' at the top of the file."),
    ("  indented = x\n[secrets]\n",
     PATH + " has lines before any section header and no [secrets] header above them; Aloha "
     "cannot read it. Add a line '[secrets]' at the top of the file."),
    ("[other]\nfoo = bar\n",
     PATH + " has no [secrets] header; Aloha reads its secrets only from the [secrets] section. "
     "Add a line '[secrets]' above the secrets (at the top of the file)."),
    ("[secrets]\na = 1\n[secrets]\nb = 2\n",
     PATH + " has 2 [secrets] headers; Aloha refuses to start with a duplicate section. Merge "
     "them by hand."),
    ("[secrets]\nnot an option\n",
     PATH + ": line 2 is neither a comment, a section header nor a 'key = value' line"),
    ("[secrets]\n= value\n",
     PATH + ": line 2 is neither a comment, a section header nor a 'key = value' line"),
])
def test_compute_refusals_in_full(text, message):
    assert refusal(secrets_file.compute, text, "email_password", "c", "present", PATH) == message


def test_a_value_ending_in_x_is_read_whole():
    # Only the line ending is cut from a line, whatever the value ends with.
    new, action, _, _ = secrets_file.compute("[secrets]\nemail_password = pwX\n", "email_password",
                                             "pwX", "present", PATH)
    assert (new, action) == (None, "unchanged")


def test_an_equal_value_with_continuation_lines_is_rewritten_on_one_line():
    # RawConfigParser reads "same\nmore": not the password.
    new, action, before, after = secrets_file.compute(
        "[secrets]\nemail_password = same\n  more\n", "email_password", "same", "present", PATH)
    assert (new, action) == ("[secrets]\nemail_password = same\n", "updated")
    assert before == "[secrets]\nemail_password = ********\n  ********\n"
    assert after == "[secrets]\nemail_password = ******** (changed)\n"


def test_absent_key_and_absent_state_change_nothing():
    assert secrets_file.compute("[secrets]\na = 1\n", "email_password", None, "absent", PATH) == (
        None, "absent", "[secrets]\na = ********\n", "[secrets]\na = ********\n")


def test_comments_are_masked_keeping_their_marker_and_indent_but_empty_values_are_not():
    new, action, before, after = secrets_file.compute(
        "[secrets]\n  # indented comment\n#\n;x\na =\n", "email_password", "v", "present", PATH)
    assert new == "[secrets]\n  # indented comment\n#\n;x\na =\nemail_password = v\n"
    assert before == "[secrets]\n  # ********\n#\n; ********\na =\n"
    assert after == before + "email_password = ******** (changed)\n"


def test_a_key_is_added_before_the_blank_lines_and_the_next_section_with_crlf():
    new, action, _, after = secrets_file.compute(
        "[secrets]\r\na = 1\r\n\r\n[other]\r\nb = 2\r\n", "email_password", "v", "present", PATH)
    assert (new, action) == ("[secrets]\r\na = 1\r\nemail_password = v\r\n\r\n[other]\r\nb = 2\r\n", "added")
    assert after == ("[secrets]\r\na = ********\r\nemail_password = ******** (changed)\r\n\r\n"
                     "[other]\r\nb = ********\r\n")


def test_a_key_is_added_after_a_continuation_line():
    new, _, before, _ = secrets_file.compute("[secrets]\na = 1\n  cont\n", "email_password", "v",
                                             "present", PATH)
    assert new == "[secrets]\na = 1\n  cont\nemail_password = v\n"
    assert before == "[secrets]\na = ********\n  ********\n"


@pytest.mark.parametrize("value, problem", [
    (None, "is empty"), ("a b", None), ("a~b", None),
    ("a\x1fb", "control character"), ("a\x7fb", "control character"), ("a\x80b", "non-ASCII"),
])
def test_value_problem_boundaries(value, problem):
    # Space and "~" are the first and last usable characters; the name of
    # another key is quoted.
    found = secrets_file.value_problem(value, "other_key")
    if problem is None:
        assert found is None
    else:
        assert found.startswith("the value for 'other_key' ") and problem in found


@pytest.mark.parametrize("key", ["", " k", "k ", "a=b", "a:b", "[a", "a]", "a\rb", "a\nb", "#k", ";k"])
def test_plan_refuses_a_key_rawconfigparser_would_misread(key):
    assert refusal(secrets_file.plan, PATH, key, "v", "present") == (
        "key %r is not a valid RawConfigParser key" % key)


def test_plan_messages_for_the_file_s_place(tmp_path):
    missing = tmp_path / "nodir" / "aloha-secrets.conf"
    assert refusal(secrets_file.plan, str(tmp_path), "email_password", "v", "present") == (
        "%s exists and is not a regular file" % tmp_path)
    assert refusal(secrets_file.plan, str(missing), "email_password", "v", "present") == (
        "directory %s does not exist; is Aloha installed?" % missing.parent)
    assert refusal(secrets_file.plan, str(missing), "email_password", "v", "present", False) == (
        "%s does not exist (create=false)" % missing)
    assert refusal(secrets_file.plan, str(missing), "email_password", " v", "present") == (
        "Refusing to write email_password to %s: aloha_email_password begins or ends with "
        "whitespace, which Aloha's RawConfigParser strips; remove it (and from the password "
        "at the SMTP provider if it really has such a character)." % missing)


def test_plan_of_a_missing_file(tmp_path):
    path = str(tmp_path / "aloha-secrets.conf")
    assert secrets_file.plan(path, "email_password", None, "absent") == dict(
        path=path, exists=False, new_text=None, action="absent", before="", after="",
        original_values={})
    assert secrets_file.plan(path, "email_password", "v", "present") == dict(
        path=path, exists=False, new_text="[secrets]\nemail_password = v\n", action="created",
        before="", after="[secrets]\nemail_password = ******** (changed)\n", original_values={})


def test_plan_of_an_existing_file_reads_every_value(tmp_path):
    path = write(tmp_path / "aloha-secrets.conf", SECRETS)
    planned = secrets_file.plan(str(path), "email_password", "v", "present")
    assert planned["exists"] is True and planned["action"] == "added"
    assert planned["original_values"] == {
        ("secrets", "avatar_salt"): "0a1b2c3d4e5f", ("secrets", "secret_key"): "k%3Dz#x;y",
        ("secrets", "rabbitmq_password"): "Rabbit:Pass=1", ("extra", "email_password"): "outside-section"}


def test_plan_refuses_a_file_rawconfigparser_cannot_read_naming_the_line(tmp_path):
    # The line editor accepts it; Aloha's parser does not (a duplicate in
    # another section): the message names the error and line, never the text.
    path = write(tmp_path / "aloha-secrets.conf", "[secrets]\na = 1\n[extra]\nb = 1\nb = s3cret\n")
    message = refusal(secrets_file.plan, str(path), "email_password", "v", "present")
    assert message == ("%s does not parse as Aloha reads it (DuplicateOptionError at line 5); "
                       "fix it by hand first." % path)


@pytest.mark.parametrize("text, state, problem", [
    ("[secrets]\na = 1\nemail_password = v\n", "present", None),
    ("[secrets]\na = 1\nemail_password = w\n", "present",
     "the value did not read back unchanged with RawConfigParser"),
    ("[secrets]\na = 1\n", "absent", None),
    ("[DEFAULT]\nemail_password = w\n[secrets]\na = 1\n", "absent",
     "'email_password' still reads from [secrets] (is it set in [DEFAULT]?)"),
    ("[secrets]\na = 2\nemail_password = v\n", "present", "another value (a in [secrets]) would change"),
    ("[secrets]\nemail_password = v\n", "present", "another value (a in [secrets]) would change"),
    ("[secrets]\na = 1\nno delimiter\n", "present", "the new file would not parse (ParsingError at line 3)"),
    ("a = 1\n", "present", "the new file would not parse (MissingSectionHeaderError at line 1)"),
])
def test_verify_reads_the_written_file_as_aloha_does(tmp_path, text, state, problem):
    # The safety net of the write: what each difference is reported as.
    path = write(tmp_path / "new.conf", text)
    assert secrets_file.verify(str(path), {("secrets", "a"): "1"}, "email_password", "v", state) == problem


def test_bom_refusal_in_full():
    assert refusal(secrets_file.compute, "\ufeff[secrets]\n", "email_password", "v", "present", PATH) == (
        PATH + " starts with a UTF-8 byte order mark (BOM, bytes EF BB BF), which Aloha's "
        "RawConfigParser reads as part of the first line: Aloha cannot read this file. Remove the "
        "BOM (for example sed -i '1s/^\\xEF\\xBB\\xBF//' " + PATH + ") and run the role again.")


def test_an_updated_last_line_without_a_newline_gets_one():
    new, action, _, _ = secrets_file.compute("[secrets]\nemail_password = old", "email_password",
                                             "new", "present", PATH)
    assert (new, action) == ("[secrets]\nemail_password = new\n", "updated")


def test_plan_accepts_a_key_of_other_characters(tmp_path):
    path = write(tmp_path / "aloha-secrets.conf", "[secrets]\n")
    assert secrets_file.plan(str(path), "Key_X-1.a", "v", "present")["new_text"] == "[secrets]\nKey_X-1.a = v\n"


def test_plan_creates_a_file_given_by_a_relative_path(tmp_path, monkeypatch):
    # No directory part: the current one.
    monkeypatch.chdir(tmp_path)
    assert secrets_file.plan("aloha-secrets.conf", "email_password", "v", "present")["action"] == "created"


# Records every file the module opens whose name holds ".aloha-secret." (a
# Python audit hook, loaded by the interpreter wrapper below): where the
# temporary copy of the secrets file was made.
OPEN_RECORDER = '''import os, sys
def _hook(event, args):
    if event == "open" and ".aloha-secret." in str(args[0]):
        with open(os.environ["ALOHA_UNIT_OPEN_LOG"], "a") as log:
            log.write(os.path.abspath(str(args[0])) + "\\n")
sys.addaudithook(_hook)
'''


@pytest.mark.ansible_cli
def test_the_temporary_copy_is_made_beside_the_secrets_file(run_module, tmp_path):
    # Beside the target, on its filesystem: the rename is atomic, and a run
    # killed mid-write leaves the copy in /etc/aloha (root-only), never in
    # /tmp or Ansible's working directory.
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(OPEN_RECORDER)
    log = tmp_path / "opened.log"
    wrapper = tmp_path / "python-recording-opens"
    wrapper.write_text("#!/bin/sh\nPYTHONPATH=%s ALOHA_UNIT_OPEN_LOG=%s exec %s \"$@\"\n"
                       % (hook_dir, log, TARGET_PYTHON))
    wrapper.chmod(0o755)
    target_dir = tmp_path / "etc-aloha"
    target_dir.mkdir()
    path = target_dir / "aloha-secrets.conf"
    path.write_text("[secrets]\nsecret_key = k\n")
    proc, result = run_secret(run_module, path, "n3w-pass", python=str(wrapper))
    assert result["changed"] is True, proc.stdout
    assert "email_password = n3w-pass\n" in path.read_text()
    opened = log.read_text().splitlines()
    assert opened and all(os.path.dirname(p) == str(target_dir) for p in opened), opened
    assert sorted(os.listdir(target_dir)) == ["aloha-secrets.conf"]
