"""Helpers the molecule scenarios' testinfra tests share: hosts from the
molecule inventory, the SMTP server's mailbox, and running the role again
with other variables."""

import base64
import contextlib
import functools
import hashlib
import configparser
import io
import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import testinfra
import testinfra.utils.ansible_runner
import yaml

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
SECTION_RULE = "#" * 16
TOKENIZED = re.compile(r"noreply-[a-z2-7]{24}@")


def host_names(group):
    return testinfra.utils.ansible_runner.AnsibleRunner.get_runner(INVENTORY).get_hosts(group)


def ssh_dir(name):
    """The controller directory of host NAME's SSH keys and address file:
    the inventory's aloha_test_ssh_dir (by default templated on molecule's
    ephemeral directory)."""
    variables = testinfra.utils.ansible_runner.AnsibleRunner.get_runner(INVENTORY).get_variables(name)
    return Path(str(variables.get("aloha_test_ssh_dir", "/nonexistent")).replace(
        "{{ molecule_ephemeral_directory }}", os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")))


def host(name):
    """A testinfra host. Once prepare started sshd (tests/fixtures/sshd.yml
    wrote the host's address file), over SSH with the tests' own key and one
    multiplexed connection per host: a command costs about 20 ms of CPU
    there, `podman exec` 140 ms (docs/testing.md). Before that, podman
    containers are reached with `podman exec` (an ansible ad-hoc run per
    command is ten times slower)."""
    keys = ssh_dir(name)
    address_file = keys / "hosts" / name
    if address_file.is_file():
        # Short (a socket path holds at most 107 bytes), one per key directory.
        control_path = "/tmp/aloha-ti-%s-%%C" % hashlib.sha256(str(keys).encode()).hexdigest()[:8]
        return testinfra.get_host(
            "ssh://root@" + address_file.read_text().strip(), ssh_identity_file=str(keys / "id_ed25519_tests"),
            controlpersist=120, ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
            " -o LogLevel=ERROR -o ControlPath=" + control_path)
    variables = testinfra.utils.ansible_runner.AnsibleRunner.get_runner(INVENTORY).get_variables(name)
    if "podman" in str(variables.get("ansible_connection", "")):
        return testinfra.get_host("podman://" + name)
    return testinfra.get_host("ansible://" + name, ansible_inventory=INVENTORY)


def smtp_host():
    return host(host_names("smtp")[0])


@functools.lru_cache(maxsize=None)
def vault_password():
    """The SMTP password as the scenario's vault holds it."""
    out = subprocess.run(
        ["ansible-vault", "view", str(ROOT / "molecule/resources/vault.yml")],
        check=True, capture_output=True, text=True,
        env=dict(os.environ, ANSIBLE_VAULT_PASSWORD_FILE=str(ROOT / "molecule/resources/vault-password")),
    ).stdout
    return re.search(r'aloha_email_password: "(.*)"', out).group(1)


def messages(smtp=None):
    """Messages the SMTP test server accepted, oldest first."""
    smtp = smtp or smtp_host()
    return json.loads(smtp.check_output("aloha-test-smtp-messages"))


def clear_messages(smtp=None):
    (smtp or smtp_host()).check_output("aloha-test-smtp-messages --clear")


SMTP_LOG = "/var/log/aloha-test-smtp.log"


def smtp_log_size():
    """Where the SMTP test server's log ends now: smtp_log_since(it) is
    what the server logs from here on."""
    return int(smtp_host().check_output("stat -c %%s %s" % SMTP_LOG))


def smtp_log_since(offset):
    return smtp_host().check_output("tail -c +%d %s" % (offset + 1, SMTP_LOG))


def recipient(hostname):
    """The test recipient the scenarios give each Aloha host."""
    return "ops+%s@example.net" % hostname


def messages_for(msgs, hostname):
    return [m for m in msgs if recipient(hostname) in m["rcpt_tos"]]


def wait_for_emails(hostname, count=2, timeout=90):
    """The messages the SMTP server holds for HOSTNAME's test recipient once
    there are COUNT of them: mail relayed by postfix arrives a moment after
    the role's run ends."""
    deadline = time.monotonic() + timeout
    while True:
        msgs = messages_for(messages(), hostname)
        if len(msgs) >= count or time.monotonic() > deadline:
            return msgs
        time.sleep(2)


def two_test_emails(hostname):
    """The two test emails the SMTP server holds from HOSTNAME, as (the
    administrator's, the noreply one's), after the checks every mode
    shares: senders, subjects, recipient."""
    msgs = wait_for_emails(hostname)
    assert len(msgs) == 2, msgs
    # By subject, not arrival: postfix relays its queue in no fixed order.
    admin, noreply = sorted(msgs, key=lambda m: m["headers"]["Subject"])
    assert admin["mail_from"] == "support@aloha.test"
    assert admin["headers"]["Subject"] == "Aloha email test"
    assert re.fullmatch(TOKENIZED.pattern + r"%s\.aloha\.test" % re.escape(hostname), noreply["mail_from"])
    assert noreply["headers"]["Subject"] == "Aloha noreply email test"
    for m in msgs:
        assert m["rcpt_tos"] == [recipient(hostname)]
    return admin, noreply


def section(text, title="Outgoing email (SMTP) settings."):
    """(section lines, other lines) of a settings.py text."""
    lines = text.splitlines()
    starts = [i for i in range(len(lines) - 1) if lines[i] == SECTION_RULE and lines[i + 1].startswith("## ")]
    start = next(i for i in starts if lines[i + 1][3:].strip() == title)
    end = next((i for i in starts if i > start), len(lines))
    return lines[start:end], lines[:start] + lines[end:]


def read_secrets(text):
    parser = configparser.RawConfigParser()
    parser.read_file(io.StringIO(text))
    return parser


def password_forms(password, user="aloha@aloha.test"):
    """The password as it could leak: plain, quoted, base64 (alone and in
    AUTH PLAIN), escaped inside a longer YAML, JSON or Python string (the
    yaml callback writes c'd\\"e as 'c''d"e' or "c'd\\"e"; JSON inside JSON
    doubles the backslashes), and its quote-free fragments (any run of 6 or
    more characters between quotes and backslashes), which match whatever
    the escaping."""
    forms = {password, repr(password), json.dumps(password)}
    forms |= {
        repr(password)[1:-1],
        json.dumps(password)[1:-1],
        json.dumps(json.dumps(password))[1:-1],
        password.replace("'", "''"),
        password.replace("\\", "\\\\").replace('"', '\\"'),
        password.replace("\\", "\\\\").replace("'", "\\'"),
    }
    forms |= password_fragments(password)
    for raw in (password, "\0%s\0%s" % (user, password), "%s\0%s" % (user, password)):
        forms.add(base64.b64encode(raw.encode()).decode())
    forms |= base64_inside(password)
    return {form for form in forms if form}


def base64_inside(password):
    """The password inside a longer base64 text (a whole file encoded, as
    aloha_snapshot returns it): for each of the three byte alignments, the
    base64 groups that the password's bytes alone make."""
    data = password.encode()
    found = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        start, end = (4 if shift else 0), (shift + len(data)) // 3 * 4
        if end - start >= 8:
            found.add(encoded[start:end])
    return found


def password_fragments(password, shortest=6):
    """The runs of PASSWORD between quotes and backslashes, when long enough
    to mean the password and nothing else."""
    return {part for part in re.split(r"[\"'\\\\]", password) if len(part) >= shortest}


def run_role(limit, extra_vars=None, playbook="molecule/resources/converge.yml", check=False, diff=False, verbosity=0,
             env=None, extra_args=(), wait=True):
    """Run a playbook against the molecule hosts; returns CompletedProcess
    with stdout+stderr in .stdout."""
    cmd = ["ansible-playbook", "-i", INVENTORY, str(ROOT / playbook), "--limit", limit]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += ["--check"] * check + ["--diff"] * diff + list(extra_args)
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "tests/ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", **(env or {}))
    if not wait:
        # Own process group, so a test can kill the whole run at once.
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def task_output(stdout, name):
    """What a playbook's output says under the last task named NAME (the
    header is printed even for a skipped task; look at the result lines)."""
    blocks = re.split(r"^TASK \[", stdout, flags=re.MULTILINE)
    found = [b for b in blocks if b.split("]", 1)[0].split(" : ")[-1] == name]
    return found[-1].split("\n", 1)[1] if found else ""


def write_file(h, path, text):
    """Write TEXT to PATH on host H byte for byte (base64 survives any shell
    quoting, newlines included)."""
    h.check_output("echo %s | base64 -d > %s" % (base64.b64encode(text.encode()).decode(), shlex.quote(path)))


def set_smtp_password(password, smtp=None):
    """Change the SMTP test account's password (the server re-reads it)."""
    smtp = smtp or smtp_host()
    path = "/etc/aloha-test-smtp/config.json"
    config = json.loads(smtp.file(path).content_string)
    config["accounts"] = {user: password for user in config["accounts"]}
    write_file(smtp, path, json.dumps(config))


@contextlib.contextmanager
def smtp_config(**changes):
    """The SMTP test server's config.json with CHANGES (keys such as
    greylisted_recipients) for the block, then as it was (the server
    re-reads it)."""
    smtp = smtp_host()
    path = "/etc/aloha-test-smtp/config.json"
    before = smtp.file(path).content_string
    try:
        write_file(smtp, path, json.dumps(dict(json.loads(before), **changes)))
        yield
    finally:
        write_file(smtp, path, before)


@contextlib.contextmanager
def smtp_port_filtered(port):
    """The SMTP test host drops connections to PORT for the block, as a
    provider's firewall does: the fixture's own nftables template
    (filtered-port.nft.j2) rendered for PORT replaces its table, and the
    fixture's rules come back after."""
    name = host_names("smtp")[0]
    rules = "/etc/aloha-test-smtp/filtered-port.nft"
    template = ROOT / "tests/fixtures/roles/aloha_test_smtp/templates/filtered-port.nft.j2"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "tests/ansible.cfg"))
    subprocess.run(["ansible", "-i", INVENTORY, name, "-m", "ansible.builtin.template",
                    "-a", "src=%s dest=%s.%d mode=0644" % (template, rules, port),
                    "-e", json.dumps({"aloha_test_smtp_filtered_port": port})],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    smtp = smtp_host()
    try:
        smtp.check_output("nft -f %s.%d" % (rules, port))
        yield
    finally:
        smtp.check_output("nft -f %s && rm -f %s.%d" % (rules, rules, port))


@contextlib.contextmanager
def dns_from_fixture(name):
    """Host NAME resolves names through the DNS fixture on the SMTP test
    host for the block (there the MX of example.net is the SMTP server)."""
    h = host(name)
    resolv = h.file("/etc/resolv.conf").content_string
    try:
        write_file(h, "/etc/resolv.conf", "nameserver %s\n" % address(smtp_host()))
        yield h
    finally:
        write_file(h, "/etc/resolv.conf", resolv)


def inline_vault_vars(path, name, value):
    """Write a vars file holding VALUE as an inline !vault string, the way
    the README tells operators to store passwords with {{ or {% in them."""
    out = subprocess.run(
        ["ansible-vault", "encrypt_string", "--name", name, "--stdin-name", name],
        input=value, capture_output=True, text=True, check=True,
        env=dict(os.environ, ANSIBLE_VAULT_PASSWORD_FILE=str(ROOT / "molecule/resources/vault-password")),
    ).stdout
    Path(path).write_text("---\n" + out)


def vault_vars_file(path, variables):
    """Write VARIABLES as a vars file encrypted whole with the test vault's
    password, as an operator keeps a vault.yml."""
    Path(path).write_text(yaml.safe_dump(variables))
    subprocess.run(["ansible-vault", "encrypt", str(path)], capture_output=True, text=True, check=True,
                   env=dict(os.environ, ANSIBLE_VAULT_PASSWORD_FILE=str(ROOT / "molecule/resources/vault-password")))


def settings_compile_check(h):
    """settings.py loads in the host's Python."""
    return h.run("python3 -c \"compile(open('/etc/aloha/settings.py').read(), 's', 'exec')\"")


def secrets_value(h, key="email_password"):
    """email_password as Aloha's RawConfigParser reads it on the host."""
    return h.check_output(
        "python3 -c \"import configparser; p = configparser.RawConfigParser(); "
        "p.read('/etc/aloha/aloha-secrets.conf'); print(repr(p.get('secrets', '%s', fallback=None)))\"" % key)


# --- fleet scenario (molecule/fleet): playbooks over SSH ----------------------

FLEET_INVENTORY = ROOT / "molecule/fleet/inventory"
FLEET_HOSTS = ROOT / ".cache/fleet/hosts.yml"
FLEET_REPORTS = ROOT / ".cache/fleet/reports"
ALOHA_FILES = ("/etc/aloha/settings.py", "/etc/aloha/aloha-secrets.conf")


def server_state(name):
    """What the stand-in Aloha server on host NAME did and runs: how many
    restarts restart-server logged, and the pid and the sha256 of
    settings.py and aloha-secrets.conf its running process loaded."""
    log = host(name).file("/var/log/aloha/server.log").content_string
    started = re.findall(r"aloha-server started pid (\d+) settings (\w+) secrets (\w+)", log)
    pid, settings, secrets = started[-1]
    return dict(restarts=log.count("Restarting django server"), pid=pid, settings=settings, secrets=secrets)


def file_digests(name, paths=ALOHA_FILES):
    """{path: sha256} of the files (through symlinks), as server_state reports them."""
    out = host(name).check_output("sha256sum %s" % " ".join(paths))
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def host_activity(name):
    """What shows that a run reached host NAME: its stand-in server's and
    manage.py's logs, its files, and the SMTP server's AUTH attempts from
    it (a preflight logs in, pass or fail). Equal before and after a run:
    the run never touched the host."""
    h = host(name)
    return dict(server_log=h.file("/var/log/aloha/server.log").content_string,
                manage_log=h.file("/var/log/aloha/manage.log").content_string,
                files=file_checksums(name), smtp_logins=smtp_logins(name))


def smtp_logins(name):
    """How many AUTH attempts the SMTP test server logged from host NAME."""
    log = smtp_host().file("/var/log/aloha-test-smtp.log").content_string
    return len(re.findall(r"peer=%s AUTH " % re.escape(address(host(name))), log))


def run_fleet(playbook, extra_vars=None, report=None, check=False, verbosity=0):
    """Run a fleet playbook over SSH with the fleet inventory (group_vars and
    vault in molecule/fleet/inventory, the containers' IPs in
    .cache/fleet/hosts.yml). report names the report directory under
    .cache/fleet/reports. Returns CompletedProcess, stdout+stderr in .stdout."""
    extra = dict(extra_vars or {})
    if report:
        extra["aloha_email_report_dir"] = str(FLEET_REPORTS / report)
    cmd = ["ansible-playbook", "-i", str(FLEET_INVENTORY), "-i", str(FLEET_HOSTS), str(ROOT / playbook),
           "-e", json.dumps(extra)] + ["--check"] * check + ["-" + "v" * verbosity] * bool(verbosity)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "tests/ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_VAULT_PASSWORD_FILE=str(ROOT / "molecule/resources/vault-password"))
    return subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def fleet_report(report, name):
    """A JSON report a fleet playbook wrote: {host: row}."""
    data = json.loads((FLEET_REPORTS / report / name).read_text())
    return {row["host"]: row for row in data["hosts"]}


def stopped_rollout(extra_vars, report):
    """playbooks/rollout.yml in batches of two with EXTRA_VARS, for a test
    that expects it to stop on group B's first host: the Aloha hosts' file
    checksums before, the run, and its JSON report."""
    clear_messages()
    before = {name: file_checksums(name) for name in host_names("aloha")}
    proc = run_fleet("playbooks/rollout.yml", dict(extra_vars, aloha_email_rollout_batch=2), report=report)
    return dict(proc=proc, before=before, report=fleet_report(report, "rollout.json"))


def fleet_recipient(hostname):
    """The test recipient of a fleet host (molecule/fleet/inventory/group_vars)."""
    if hostname in host_names("fleet_b"):
        return "fleet-b+%s@example.org" % hostname
    return recipient(hostname)


def fleet_b_host_sends(name):
    """NAME, a group B host, sends both test emails with group B's settings
    (465, TLS from the first byte, its own account): send_test_email run by
    hand on the host, as an operator checks a host."""
    clear_messages()
    proc = send_test_email(name, fleet_recipient(name))
    assert proc.rc == 0, proc.stdout + proc.stderr
    msgs = [m for m in messages() if fleet_recipient(name) in m["rcpt_tos"]]
    assert [m["headers"]["Subject"] for m in msgs] == ["Aloha email test", "Aloha noreply email test"]
    for m in msgs:
        assert (m["port"], m["tls"], m["auth_user"]) == (465, True, "fleet-b@aloha.test")


def file_checksums(name, paths=ALOHA_FILES):
    return host(name).check_output("sha256sum %s" % " ".join(paths))


def file_stats(name, paths=ALOHA_FILES):
    """Owner, group and mode of each file, as `stat` prints them."""
    return host(name).check_output("stat -c '%%U %%G %%a %%n' %s" % " ".join(paths))


def send_test_email(name, address):
    """Aloha's own test tool on the host, as the aloha user."""
    return host(name).run("runuser -u aloha -- /home/aloha/deployments/current/manage.py send_test_email %s"
                          % address)


# Local mode (postfix + OpenDKIM): the DNS records the role wrote on the
# controller, and DKIM verification of received mail against them.

def dns_records_path(hostname):
    """Where the local_postfix scenario has the role write a host's records."""
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "dns-records" / ("%s.zone" % hostname)


def dns_txt_records(path):
    """{name without trailing dot: TXT value} of the active (uncommented) records of a zone file."""
    records = {}
    for line in Path(path).read_text().splitlines():
        m = re.match(r'^([^;\s]\S*)\s+\d+\s+IN\s+TXT\s+((?:"[^"]*"\s*)+)', line)
        if m:
            records[m.group(1).rstrip(".").lower()] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return records


def dkim_tags(raw):
    """Tags of the (first) DKIM-Signature header of a raw message."""
    import email
    value = email.message_from_string(raw).get("DKIM-Signature", "")
    return {k.strip(): re.sub(r"\s+", "", v) for k, v in
            (t.split("=", 1) for t in value.split(";") if "=" in t)}


def dkim_verifies(raw, records):
    """True when the message's DKIM signature verifies with dkimpy against
    the given TXT records (no DNS involved)."""
    import dkim

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        value = records.get(name.rstrip(".").lower())
        return value.encode() if value is not None else None

    data = raw.encode() if isinstance(raw, str) else raw
    if b"\r\n" not in data:
        data = data.replace(b"\n", b"\r\n")
    return dkim.verify(data, dnsfunc=dnsfunc)


def address(h):
    """The container's address on the scenario's network."""
    return h.check_output("hostname -I").split()[0]


def postconf(name):
    """postfix's non-default settings on host NAME, one per line."""
    return host(name).check_output("postconf -n").splitlines()


def active_selector(name):
    """The DKIM selector OpenDKIM signs with on host NAME, as the role recorded it."""
    return json.loads(host(name).file("/etc/opendkim/aloha-email-selectors.json").content_string)["active"]


def signed_test_emails(hostname):
    """two_test_emails, after checking that postfix relayed each and its
    DKIM signature verifies against the records the role wrote."""
    records = dns_txt_records(dns_records_path(hostname))
    msgs = two_test_emails(hostname)
    for m in msgs:
        assert "(Postfix)" in m["raw"]
        assert dkim_verifies(m["raw"], records), m["raw"]
    return msgs


# --- provider scenario (molecule/provider): Debian's postfix and dovecot ------

PROVIDER_NAME = "mail.provider.test"


def provider_host():
    return host(host_names("provider")[0])


def provider_recipient(hostname):
    """The test recipient molecule/provider gives each Aloha host (maildir "ops")."""
    return "ops+%s@provider.test" % hostname


def provider_messages(provider=None):
    """Messages postfix delivered to the provider's maildirs, oldest first,
    in the shape of messages() (aloha-test-provider-messages)."""
    return json.loads((provider or provider_host()).check_output("aloha-test-provider-messages"))


def clear_provider_messages(provider=None):
    (provider or provider_host()).check_output("aloha-test-provider-messages --clear")


def provider_emails(hostname, count=2, timeout=30):
    """The messages in the provider's maildir for HOSTNAME's test recipient,
    once there are COUNT (postfix delivers a moment after the session)."""
    deadline = time.monotonic() + timeout
    while True:
        msgs = [m for m in provider_messages() if m["rcpt_tos"] == [provider_recipient(hostname)]]
        if len(msgs) >= count or time.monotonic() > deadline:
            return msgs
        time.sleep(1)
