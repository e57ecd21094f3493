"""Bad input: at least 25 wrong inputs, each run against the live host, each
failing before any file on the host changes, each with a message naming the
variable and the fix. All cases run in one ansible-playbook run: every case
is an inventory alias of the same container.

The matrix runs twice: with the SMTP preflight on (the default) and off.
The preflight finds some of the same mistakes (465 with STARTTLS, TLS and
SSL together, an empty or padded password); with it off, every message
must still come from the role's own validation, as it must in local and
file mode, where there is no preflight.

"No file changed" is checked over the whole root file system: anything
created, written, chmod-ed or chown-ed after a marker file (find -newer /
-cnewer), directories included, beyond the few paths the container itself
writes (the journal), and the content and metadata of the trees the role
could touch."""

import json
import os
import subprocess
import tempfile

import pytest
import yaml

from alohatest import ROOT, host, host_names, vault_password

TARGET = host_names("aloha")[0]
BAD = "/srv/bad"

# case -> (variables, substrings the failure message must contain)
CASES = {
    "port-465-with-tls": ({"aloha_email_port": 465, "aloha_email_use_tls": True},
                          ["aloha_email_port is 465", "aloha_email_use_ssl: true"]),
    "tls-and-ssl": ({"aloha_email_use_tls": True, "aloha_email_use_ssl": True},
                    ["aloha_email_use_tls and aloha_email_use_ssl are both true"]),
    "port-out-of-range": ({"aloha_email_port": 70000}, ["aloha_email_port is 70000", "1 to"]),
    "port-zero": ({"aloha_email_port": 0}, ["aloha_email_port is 0", "1 to"]),
    "port-not-a-number": ({"aloha_email_port": "smtp"}, ["aloha_email_port"]),
    "user-without-password": ({"aloha_email_password": ""},
                              ["aloha_email_host_user is set but aloha_email_password is empty", "Vault"]),
    "password-leading-space": ({"aloha_email_password": " s3cret"}, ["aloha_email_password", "whitespace"]),
    "password-trailing-space": ({"aloha_email_password": "s3cret "}, ["aloha_email_password", "whitespace"]),
    "password-newline": ({"aloha_email_password": "s3c\nret"}, ["aloha_email_password", "newline"]),
    "password-tab": ({"aloha_email_password": "s3c\tret"}, ["aloha_email_password", "control character"]),
    "password-non-ascii": ({"aloha_email_password": "s3crét"}, ["aloha_email_password", "non-ASCII"]),
    "tokenized-without-token": ({"aloha_email_tokenized_noreply_address": "noreply@aloha.test"},
                                ["aloha_email_tokenized_noreply_address", "{token}"]),
    "tokenized-malformed": ({"aloha_email_tokenized_noreply_address": "noreply-{token}"},
                            ["aloha_email_tokenized_noreply_address", "{token}"]),
    "noreply-malformed": ({"aloha_email_noreply_address": "noreply at aloha.test"},
                          ["aloha_email_noreply_address", "valid address"]),
    "recipient-malformed": ({"aloha_email_test_recipient": "ops@"},
                            ["aloha_email_test_recipient", "valid address"]),
    "unknown-provider": ({"aloha_email_provider": "mailchimp"}, ["aloha_email_provider", "mailgun"]),
    "ses-without-region": ({"aloha_email_provider": "ses", "aloha_email_host": ""},
                           ["aloha_email_ses_region", "eu-west-1"]),
    "custom-without-host": ({"aloha_email_host": ""}, ["aloha_email_host", "hostname"]),
    "unknown-mode": ({"aloha_email_mode": "sendmail"}, ["aloha_email_mode", "smtp"]),
    "file-mode-relative-path": ({"aloha_email_mode": "file", "aloha_email_file_path": "emails"},
                                ["aloha_email_file_path must be an absolute path"]),
    "settings-missing": ({"aloha_email_config_dir": BAD + "/no-settings"},
                         ["settings.py does not exist", "aloha_email_config_dir"]),
    "settings-syntax-error": ({"aloha_email_config_dir": BAD + "/syntax-error"},
                              ["syntax error at line", "fix that line"]),
    "settings-sets-password": ({"aloha_email_config_dir": BAD + "/settings-password"},
                               ["EMAIL_HOST_PASSWORD on line 2", "aloha_email_password"]),
    "secrets-without-header": ({"aloha_email_config_dir": BAD + "/secrets-no-header"},
                               ["[secrets]", "Add a line '[secrets]'"]),
    "secrets-duplicate-password": ({"aloha_email_config_dir": BAD + "/secrets-duplicate"},
                                   ["2 'email_password' entries", "Remove the extra line"]),
    "aloha-user-missing": ({"aloha_email_user": "nosuchuser"}, ["User nosuchuser does not exist", "aloha_email_user"]),
    "deploy-path-missing": ({"aloha_email_deploy_path": BAD + "/nope"},
                            ["manage.py does not exist", "aloha_email_deploy_path"]),
    "restart-script-not-executable": ({"aloha_email_deploy_path": BAD + "/deploy-noexec"},
                                      ["restart-server is not executable", "aloha_email_deploy_path"]),
    "local-smarthost-without-password": (
        {"aloha_email_mode": "local", "aloha_email_local_relay_host": "smtp.aloha.test",
         "aloha_email_local_relay_user": "aloha@aloha.test", "aloha_email_local_relay_password": ""},
        ["aloha_email_local_relay_password", "Vault"]),
    "cleartext-login": ({"aloha_email_port": 25, "aloha_email_use_tls": False},
                        ["aloha_email_use_tls and aloha_email_use_ssl are", "clear text",
                         "aloha_email_allow_cleartext_login"]),
    # A YAML "|" scalar ends in a newline, which "$" would accept.
    "recipient-trailing-newline": ({"aloha_email_test_recipient": "ops@example.net\n"},
                                   ["aloha_email_test_recipient", "valid address"]),
    "host-trailing-newline": ({"aloha_email_host": "smtp.aloha.test\n"}, ["aloha_email_host", "hostname"]),
    "local-relay-host-trailing-newline": (
        {"aloha_email_mode": "local", "aloha_email_local_relay_host": "smtp.aloha.test\n"},
        ["aloha_email_local_relay_host", "smarthost's hostname"]),
    "local-dkim-selector-illegal": ({"aloha_email_mode": "local", "aloha_email_local_dkim_selector": "aloha_2026!"},
                                    ["aloha_email_local_dkim_selector", "DNS name"]),
    "local-relay-port-out-of-range": (
        {"aloha_email_mode": "local", "aloha_email_local_relay_host": "smtp.aloha.test",
         "aloha_email_local_relay_port": 70000},
        ["aloha_email_local_relay_port is 70000", "587"]),
    "local-smarthost-password-without-user": (
        {"aloha_email_mode": "local", "aloha_email_local_relay_host": "smtp.aloha.test",
         "aloha_email_local_relay_user": "", "aloha_email_local_relay_password": "s3cret"},
        ["aloha_email_local_relay_password is set but aloha_email_local_relay_user is empty"]),
    "local-relay-ca-file-missing": ({"aloha_email_mode": "local", "aloha_email_local_relay_ca_file": BAD + "/ca.pem"},
                                    ["aloha_email_local_relay_ca_file", "not a file on the controller"]),
    "local-dkim-new-selector-illegal": (
        {"aloha_email_mode": "local", "aloha_email_local_dkim_new_selector": "aloha_2027!"},
        ["aloha_email_local_dkim_new_selector", "DNS name"]),
    "local-domains-illegal": ({"aloha_email_mode": "local", "aloha_email_local_domains": ["not a domain"]},
                              ["aloha_email_local_domains holds", "domain names"]),
    "local-dkim-key-not-pem": (
        {"aloha_email_mode": "local",
         "aloha_email_local_dkim_keys": [{"domain": "aloha.test", "selector": "k1", "private_key": "not a key"}]},
        ["aloha_email_local_dkim_keys: every item", "PEM"]),
}


MARKER = "/var/tmp/.aloha-matrix-marker"
# What changes while the matrix runs without being the role's doing: the
# journal, Ansible's own remote temporary files (the podman connection
# copies some modules there and removes them after the task), the test
# hosts' bytecode cache of module code (tests/fixtures/roles/
# aloha_test_pycache: a module's first run adds its entry), and the mtime
# of the temporary directories themselves (an entry made and removed
# again). Anything left inside them is still reported.
BACKGROUND = ("/var/log/journal/", "/root/.ansible/", "/var/cache/aloha-test-pycache/")
BACKGROUND_DIRS = ("/root/.ansible", "/tmp", "/var/tmp", "/var/cache/aloha-test-pycache")


def state(name):
    """Content, mode, owner and mtime of everything (files, directories,
    links) the role could touch."""
    return host(name).check_output(
        "find /etc/aloha /srv/bad /etc/postfix /etc/opendkim /var/log/aloha /home/aloha 2>/dev/null | sort"
        " | xargs stat -c '%n %F %a %U %G %Y %s' && sha256sum /etc/aloha/* $(find /srv/bad -type f)")


def changed_since_marker(name):
    """Every path on the root file system (files, directories, links)
    written, created or re-owned after MARKER."""
    out = host(name).check_output(
        "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path %s \\) -prune"
        " -o \\( -newer %s -o -cnewer %s \\) -print" % (MARKER, MARKER, MARKER))
    return sorted(p for p in out.splitlines() if p and not p.startswith(BACKGROUND) and p not in BACKGROUND_DIRS)


def messages(node):
    """Every msg string in a json-callback host result."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "msg" and isinstance(value, str):
                found.append(value)
            else:
                found += messages(value)
    elif isinstance(node, list):
        for value in node:
            found += messages(value)
    return found


def selected_cases(request):
    """The cases to run: all, unless the session selected only some cases'
    message tests (tests/mutants/run runs one case per mutant: one host
    instead of the whole matrix)."""
    items = [item for item in request.session.items if item.module is request.module]
    if all(item.originalname == "test_case_fails_with_a_message_naming_the_variable_and_fix" for item in items):
        return {item.callspec.params["case"] for item in items}
    return set(CASES)


@pytest.fixture(scope="module", params=["preflight-on", "preflight-off"])
def matrix(request):
    host(TARGET).check_output("touch %s && sleep 1" % MARKER)
    before = state(TARGET)
    hosts = {}
    chosen = selected_cases(request)
    for case, (variables, _) in CASES.items():
        if case not in chosen:
            continue
        hostvars = {"ansible_host": TARGET, "ansible_connection": "containers.podman.podman",
                    "aloha_email_host": "smtp.aloha.test", "aloha_email_host_user": "aloha@aloha.test",
                    "aloha_email_password": vault_password(),
                    "aloha_email_test_recipient": "ops@example.net"}
        if request.param == "preflight-off":
            hostvars["aloha_email_preflight"] = False
        hostvars.update(variables)
        hosts[case] = hostvars
    with tempfile.TemporaryDirectory() as tmp:
        inventory = os.path.join(tmp, "inventory.yml")
        with open(inventory, "w") as f:
            yaml.safe_dump({"aloha": {"hosts": hosts}}, f)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
                   ANSIBLE_FORKS="10")
        proc = subprocess.run(
            ["ansible-playbook", "-i", inventory, str(ROOT / "molecule/hardening/matrix.yml")],
            cwd=ROOT, env=env, capture_output=True, text=True)
    results = json.loads(proc.stdout)
    after = state(TARGET)
    touched = changed_since_marker(TARGET)
    per_host = {case: [] for case in chosen}
    for play in results["plays"]:
        for task in play["tasks"]:
            for name, result in task["hosts"].items():
                if result.get("failed") or any(r.get("failed") for r in result.get("results", [])):
                    per_host[name] += messages(result)
    return before, after, per_host, results["stats"], touched


def test_the_run_covered_at_least_25_cases(matrix):
    """From the playbook's own summary: every case was a host of the run,
    and each failed (not just was listed here)."""
    _, _, per_host, stats, _ = matrix
    assert set(stats) == set(CASES)
    failed = [case for case in CASES if stats[case]["failures"] >= 1 and per_host[case]]
    assert len(failed) >= 25 and len(failed) == len(CASES), stats


def test_no_file_on_the_host_changed(matrix):
    before, after, _, _, touched = matrix
    assert before == after
    assert touched == [], touched


@pytest.mark.parametrize("case", sorted(CASES))
def test_case_fails_with_a_message_naming_the_variable_and_fix(matrix, case):
    _, _, per_host, stats, _ = matrix
    assert stats[case]["failures"] >= 1 and stats[case]["changed"] == 0
    text = "\n".join(per_host[case])
    for expected in CASES[case][1]:
        assert expected in text, text
