"""Shared fixtures for the aloha_email module tests.

- Makes the role's modules importable (library/ on sys.path) and registers
  the role's module_utils as ansible.module_utils.<name>, the names the
  modules import them by (Ansible does the same for role module_utils).
- A scripted SMTP server on 127.0.0.1 so smtplib produces real replies,
  errors and debug transcripts.
- A fake Aloha deployment whose manage.py does what Aloha's send_test_email
  does with smtplib, so the module runs against real output.
- A helper that runs a module through the `ansible` ad-hoc command.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import pwd
import re
import runpy
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "aloha_email"
LIBRARY = ROLE / "library"
MODULE_UTILS = ROLE / "module_utils"

sys.path.insert(0, str(LIBRARY))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "property: hypothesis property-based tests (select with -m property)")
    config.addinivalue_line(
        "markers", "ansible_cli: runs the real ansible command even with ALOHA_UNIT_INPROCESS=1")


def pytest_collection_modifyitems(config, items):
    # In-process runs (mutation testing with -x) try the fast tests first:
    # a mutant they kill never waits for the ansible command.
    if INPROCESS:
        items.sort(key=lambda item: item.get_closest_marker("ansible_cli") is not None)


# In import order: aloha_email_smtp imports aloha_email_scrub.
MODULE_UTILS_NAMES = ("aloha_email_scrub", "aloha_email_smtp", "aloha_email_settings")


def _register_module_utils():
    import ansible.module_utils

    others = sorted(path.stem for path in MODULE_UTILS.glob("*.py")
                    if path.stem not in MODULE_UTILS_NAMES)
    for short in MODULE_UTILS_NAMES + tuple(others):
        if not (MODULE_UTILS / (short + ".py")).exists():
            continue
        name = "ansible.module_utils." + short
        spec = importlib.util.spec_from_file_location(name, MODULE_UTILS / (short + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        setattr(ansible.module_utils, short, module)


_register_module_utils()

CURRENT_USER = pwd.getpwuid(os.geteuid()).pw_name


def target_interpreters():
    """Pythons to run modules with: the target's system python3 (Debian 12:
    3.11) and, when this machine has one, a 3.13 like Debian 13's."""
    found = []
    for candidate in ("/usr/bin/python3",
                      shutil.which("python3.13") or "",
                      "/root/.pyenv/versions/3.13.0/bin/python3.13",
                      "/usr/bin/python3.13"):
        if candidate and os.access(candidate, os.X_OK) and candidate not in found:
            probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                   capture_output=True, text=True)
            if probe.returncode == 0:
                found.append(candidate)
    return found or [sys.executable]


TARGET_PYTHONS = target_interpreters()
TARGET_PYTHON = TARGET_PYTHONS[0]


def pytest_generate_tests(metafunc):
    # A test asking for target_python runs once per interpreter found.
    if "target_python" in metafunc.fixturenames:
        metafunc.parametrize("target_python", TARGET_PYTHONS)


# --- running modules through Ansible ----------------------------------------

def yaml_unsafe(value):
    # JSON strings are valid YAML double-quoted scalars; !unsafe keeps
    # "{{ x }}" in a password from being templated, as a vault var would.
    return "!unsafe " + json.dumps(value)


# ALOHA_UNIT_INPROCESS=1 (the Python mutation runs) runs a module's main()
# in the pytest process instead of through the `ansible` command: a few
# milliseconds instead of seconds per test. A call that looks at what only
# the command makes (its printed output at -v and above, the default
# callback, another target Python) still goes through `ansible`.
INPROCESS = os.environ.get("ALOHA_UNIT_INPROCESS") == "1"
_VAR = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _template(value, secrets):
    # The only templating the tests use: "{{ name }}" of a var in secrets.
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            return secrets[whole.group(1)]
        return _VAR.sub(lambda match: str(secrets[match.group(1)]), value)
    if isinstance(value, dict):
        return {key: _template(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_template(item, secrets) for item in value]
    return value


def _same_python(python):
    return python is None or os.path.realpath(python) == os.path.realpath(sys.executable)


def _controller_view(name, result):
    # What the controller adds to a module's result before the json
    # callback prints it, and drops from it.
    result = {key: item for key, item in result.items() if not key.startswith("_ansible_")}
    result.setdefault("changed", False)
    result["action"] = name
    if result.get("failed") is not True:
        result.pop("failed", None)
    return result


def run_module_inprocess(tmp_path, name, args, secrets=None, check=False, diff=False):
    """Runs LIBRARY/name.py here as __main__, read fresh from the file (a
    mutated copy under test is what runs), with the args as Ansible would
    hand them over. Returns (completed_process, result) like run_module."""
    # Outside tmp_path: some tests list what the module left there.
    with tempfile.TemporaryDirectory(prefix="aloha-module-tmp-") as module_tmp:
        return _run_main(name, _template(args, secrets or {}), check, diff, module_tmp)


def _run_main(name, args, check, diff, module_tmp):
    from ansible.module_utils import _internal
    from ansible.module_utils.common import warnings as module_warnings
    from ansible.module_utils.testing import patch_module_args

    # Ansible runs one module per process, on the target; here they share
    # the test process. Start each run with an empty (global, de-duplicated)
    # warnings store, and as a module: once a test imported controller code
    # (the Templar), module warnings would go to the controller's display.
    module_warnings._global_warnings.clear()
    module_warnings._global_deprecations.clear()
    was_controller, _internal.is_controller = _internal.is_controller, False
    try:
        return _run_module_file(name, args, check, diff, module_tmp, patch_module_args)
    finally:
        _internal.is_controller = was_controller


def _run_module_file(name, args, check, diff, module_tmp, patch_module_args):
    module_args = dict(args,
                       _ansible_check_mode=check, _ansible_diff=diff,
                       _ansible_verbosity=0, _ansible_module_name=name,
                       _ansible_tmpdir=module_tmp, _ansible_remote_tmp=module_tmp,
                       _ansible_keep_remote_files=False)
    out, err = io.StringIO(), io.StringIO()
    crash = None
    with patch_module_args(module_args), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            # As Ansible runs it: the file's code as __main__, read afresh.
            runpy.run_path(str(LIBRARY / (name + ".py")), run_name="__main__")
        except SystemExit:
            pass
        except Exception:  # noqa: BLE001 - Ansible reports a crash as a failed result
            crash = traceback.format_exc()
    stdout = out.getvalue()
    start = stdout.find("{")
    if crash is not None or start < 0:
        # Ansible's MODULE FAILURE result: the task failed, not the test.
        result = dict(failed=True, msg="MODULE FAILURE", module_stdout=stdout,
                      module_stderr=err.getvalue() + (crash or ""), rc=1)
    else:
        result = json.loads(stdout[start:])
    result = _controller_view(name, result)
    # `ansible` exits 2 when the host's task failed.
    proc = subprocess.CompletedProcess(args=["in-process", name], returncode=2 if result.get("failed") else 0,
                                       stdout=stdout, stderr=err.getvalue())
    return proc, result


@pytest.fixture
def run_module(tmp_path):
    """run_module(name, args, secrets={}, check=False, diff=False,
    verbosity=0, json_output=True, python=TARGET_PYTHON)

    args values may reference the vars in secrets as "{{ name }}".
    Returns (completed_process, result_dict_or_None).
    """
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\n")

    def run(name, args, secrets=None, check=False, diff=False, verbosity=0,
            json_output=True, python=None):
        vars_file = tmp_path / "secret-vars.yml"
        vars_file.write_text("".join(
            "%s: %s\n" % (key, yaml_unsafe(value))
            for key, value in (secrets or {}).items()) or "{}\n")
        if INPROCESS and json_output and not verbosity and _same_python(python):
            return run_module_inprocess(tmp_path, name, args, secrets, check, diff)
        env = dict(os.environ)
        env.update(
            ANSIBLE_CONFIG=str(cfg),
            ANSIBLE_LIBRARY=str(LIBRARY),
            ANSIBLE_MODULE_UTILS=str(MODULE_UTILS),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_HOST_KEY_CHECKING="0",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_DEPRECATION_WARNINGS="0",
        )
        if json_output:
            env.update(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                       ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
        else:
            env.update(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
        command = [shutil.which("ansible") or str(Path(sys.executable).parent / "ansible"),
                   "localhost", "-i", "localhost,", "-c", "local",
                   "-e", "ansible_python_interpreter=%s" % (python or TARGET_PYTHON),
                   "-e", "@%s" % vars_file,
                   "-m", name, "-a", json.dumps(args)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        if verbosity:
            command.append("-" + "v" * verbosity)
        proc = subprocess.run(command, capture_output=True, text=True, env=env,
                              cwd=str(tmp_path), timeout=180)
        result = None
        if json_output:
            start = proc.stdout.find("{")
            assert start >= 0, proc.stdout + proc.stderr
            data = json.loads(proc.stdout[start:])
            result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
        return proc, result

    return run


# --- a scripted SMTP server ---------------------------------------------------

class SMTPBehaviour:
    """What the fake SMTP server does; replies mirror the project's test
    SMTP server (535 5.7.8 / 550 5.7.1)."""

    def __init__(self, accounts=None, mechanisms=("PLAIN", "LOGIN"),
                 refuse_sender=None, refuse_recipient=None, require_auth=True,
                 mode="smtp", tls_context=None, starttls_context=None,
                 echo_auth=False, rcpt_reply=None, data_reply=None):
        self.accounts = accounts or {}
        self.mechanisms = mechanisms
        self.refuse_sender = refuse_sender
        self.refuse_recipient = refuse_recipient
        self.require_auth = require_auth
        self.mode = mode          # smtp | silent | close_after_mail
        self.tls_context = tls_context  # TLS from the first byte (port 465)
        self.starttls_context = starttls_context  # offers STARTTLS (port 587)
        # Servers that quote the AUTH argument back in their 535 reply.
        self.echo_auth = echo_auth
        # Replace the answer to RCPT TO / the end of DATA (a refusal as real
        # servers word it, e.g. postfix's "Sender address rejected").
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.commands = []
        self.messages = []
        self.logins = []


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def reply(self, text):
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def readline_text(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("client went away")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def setup(self):
        behaviour = self.server.behaviour
        if behaviour.tls_context is not None:
            try:
                self.request = behaviour.tls_context.wrap_socket(
                    self.request, server_side=True)
            except (ssl.SSLError, OSError):
                self.request = None
        if self.request is not None:
            super().setup()

    def finish(self):
        if self.request is not None:
            try:
                super().finish()
            except OSError:
                pass

    def check_login(self, user, password, echo=""):
        behaviour = self.server.behaviour
        behaviour.logins.append((user, password))
        if behaviour.accounts.get(user) == password:
            self.authenticated = True
            self.reply("235 2.7.0 Authentication successful")
        elif behaviour.echo_auth:
            self.reply("535 5.7.8 Authentication credentials invalid: %s" % echo)
        else:
            self.reply("535 5.7.8 Authentication credentials invalid")

    def handle(self):
        if self.request is None:
            return
        behaviour = self.server.behaviour
        self.authenticated = False
        if behaviour.mode == "silent":
            # Like a TLS-from-the-first-byte port: waits for a ClientHello
            # and never greets.
            try:
                while self.rfile.read(1):
                    pass
            except OSError:
                pass
            return
        try:
            self.dialog(behaviour)
        except (ConnectionError, OSError):
            pass

    def dialog(self, behaviour):
        self.reply("220 smtp.aloha.test ESMTP fake")
        while True:
            line = self.readline_text()
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            behaviour.commands.append(verb)
            if verb == "EHLO":
                caps = ["smtp.aloha.test", "PIPELINING", "8BITMIME"]
                if behaviour.starttls_context is not None and not getattr(self, "upgraded", False):
                    caps.append("STARTTLS")
                if behaviour.mechanisms:
                    caps.append("AUTH " + " ".join(behaviour.mechanisms))
                for cap in caps[:-1]:
                    self.reply("250-" + cap)
                self.reply("250 " + caps[-1])
            elif verb == "STARTTLS" and behaviour.starttls_context is not None:
                self.reply("220 2.0.0 Ready to start TLS")
                self.request = behaviour.starttls_context.wrap_socket(
                    self.request, server_side=True)
                self.upgraded = True
                self.connection = self.request
                self.rfile = self.request.makefile("rb", self.rbufsize)
                self.wfile = self.request.makefile("wb", self.wbufsize)
            elif verb == "HELO":
                self.reply("250 smtp.aloha.test")
            elif verb == "AUTH":
                parts = arg.split()
                mechanism = parts[0].upper()
                if mechanism == "PLAIN":
                    blob = parts[1] if len(parts) > 1 else None
                    if blob is None:
                        self.reply("334 ")
                        blob = self.readline_text()
                    _, user, password = base64.b64decode(blob).decode().split("\0")
                    self.check_login(user, password, echo=blob)
                elif mechanism == "LOGIN":
                    if len(parts) > 1:
                        user = base64.b64decode(parts[1]).decode()
                    else:
                        self.reply("334 VXNlcm5hbWU6")
                        user = base64.b64decode(self.readline_text()).decode()
                    self.reply("334 UGFzc3dvcmQ6")
                    answer = self.readline_text()
                    password = base64.b64decode(answer).decode()
                    self.check_login(user, password, echo=answer)
                else:
                    self.reply("504 5.5.4 Unrecognized authentication type")
            elif verb == "MAIL":
                sender = re.search(r"<([^>]*)>", arg).group(1)
                if behaviour.mode == "close_after_mail":
                    return
                if behaviour.require_auth and not self.authenticated:
                    self.reply("530 5.7.0 Authentication required")
                elif behaviour.refuse_sender and re.fullmatch(
                        behaviour.refuse_sender, sender, re.IGNORECASE):
                    self.reply("550 5.7.1 Sender address not allowed: %s" % sender)
                else:
                    self.sender = sender
                    self.recipients = []
                    self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                recipient = re.search(r"<([^>]*)>", arg).group(1)
                if behaviour.rcpt_reply:
                    self.reply(behaviour.rcpt_reply.replace("{sender}", self.sender))
                elif behaviour.refuse_recipient and re.fullmatch(
                        behaviour.refuse_recipient, recipient, re.IGNORECASE):
                    self.reply("550 5.1.1 Recipient address rejected: %s" % recipient)
                else:
                    self.recipients.append(recipient)
                    self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                body = []
                while True:
                    data_line = self.readline_text()
                    if data_line == ".":
                        break
                    body.append(data_line)
                if behaviour.data_reply:
                    self.reply(behaviour.data_reply)
                    continue
                behaviour.messages.append(
                    dict(sender=self.sender, recipients=self.recipients,
                         body="\n".join(body)))
                self.reply("250 2.0.0 Ok: queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not recognized")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def smtp_server():
    """smtp_server(**SMTPBehaviour kwargs) -> (port, behaviour); stopped
    at the end of the test."""
    servers = []

    def start(**kwargs):
        server = _Server(("127.0.0.1", 0), _Handler)
        server.behaviour = SMTPBehaviour(**kwargs)
        # A short poll: shutdown() waits up to one poll interval (0.5 s by
        # default), which was most of this module's test time.
        thread = threading.Thread(target=server.serve_forever,
                                  kwargs=dict(poll_interval=0.01), daemon=True)
        thread.start()
        servers.append(server)
        return server.server_address[1], server.behaviour

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port():
    """A loopback port nobody listens on: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def blocked_port():
    """A loopback port whose SYNs are dropped, like a filtered port: a
    listener with a full accept queue (Linux then drops new SYNs)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        client = socket.socket()
        client.settimeout(0.3)
        try:
            client.connect(("127.0.0.1", port))
        except OSError:
            client.close()
            break
        fillers.append(client)
    yield port
    for client in fillers:
        client.close()
    listener.close()


@pytest.fixture(scope="session")
def self_signed_tls(tmp_path_factory):
    """A server TLS context with a self-signed certificate for
    smtp.aloha.test, which no client trusts."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=smtp.aloha.test", "-addext", "subjectAltName=DNS:smtp.aloha.test,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return context


# --- a fake Aloha deployment ---------------------------------------------------

# What Aloha's `manage.py send_test_email` does, reduced to smtplib the way
# Django's SMTP backend drives it: one SMTP session per email, STARTTLS or
# TLS from the first byte, login when user and password are set, the
# transcript captured from smtplib's debug output, SMTP errors printed as
# "Failed to send mails: ...", anything else a traceback.
MANAGE_PY = r'''#!{python}
import io
import json
import os
import random
import smtplib
import ssl
import sys
from contextlib import redirect_stderr
from email.message import EmailMessage

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "aloha-test.json")) as handle:
    cfg = json.load(handle)
with open(os.path.join(HERE, "ran.json"), "w") as handle:
    json.dump(dict(argv=sys.argv, user=os.geteuid(), cwd=os.getcwd()), handle)

if len(sys.argv) < 3 or sys.argv[1] != "send_test_email":
    sys.stderr.write("usage: manage.py send_test_email ADDRESS...\n")
    sys.exit(2)
recipients = sys.argv[2:]

if not cfg.get("host"):
    sys.stderr.write("CommandError: Outgoing email not yet configured, see\n"
                     "  https://aloha.example/production/email.html\n")
    sys.exit(1)
if cfg.get("use_tls") and cfg.get("use_ssl"):
    # django.core.mail.backends.smtp.EmailBackend.__init__
    raise ValueError(
        "EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive, so only set "
        "one of those settings to True.")

token = "".join(random.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(24))
noreply = cfg["noreply_tokenized"].replace("{{token}}", token) if cfg.get("tokens", True) \
    else cfg["noreply"]
senders = [(cfg["administrator"], "Aloha email test"), (noreply, "Aloha noreply email test")]
print("Sending 2 test emails from:")
for sender, _ in senders:
    print("  * %s" % sender)
print()

smtplib.SMTP.debuglevel = 1
log = io.StringIO()


def send(sender, subject):
    context = ssl.create_default_context(cafile=cfg.get("cafile"))
    if cfg.get("use_ssl"):
        conn = smtplib.SMTP_SSL(cfg["host"], cfg["port"], timeout=cfg.get("timeout", 15),
                                context=context)
    else:
        conn = smtplib.SMTP(cfg["host"], cfg["port"], timeout=cfg.get("timeout", 15))
    if cfg.get("use_tls"):
        conn.starttls(context=context)
    if cfg.get("user") and cfg.get("password"):
        conn.login(cfg["user"], cfg["password"])
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content("This is a test email.")
    conn.sendmail(sender, recipients, message.as_bytes())
    conn.quit()


try:
    with redirect_stderr(log):
        for sender, subject in senders:
            send(sender, subject)
except smtplib.SMTPException as e:
    print("Failed to send mails: %s" % e)
    print()
    print("Full SMTP log follows:")
    print(log.getvalue())
    sys.stderr.write("CommandError: Email sending failed!\n")
    sys.exit(1)
print("Successfully sent 2 emails to %s!" % ", ".join(recipients))
'''


class FakeAloha:
    def __init__(self, root):
        self.deploy = root / "deployments" / "current"
        self.deploy.mkdir(parents=True)
        manage = self.deploy / "manage.py"
        manage.write_text(MANAGE_PY.replace("{python}", sys.executable))
        manage.chmod(0o755)
        self.manage = manage

    def configure(self, **settings):
        cfg = dict(host="127.0.0.1", port=25, user="", password="",
                   use_tls=False, use_ssl=False, timeout=15,
                   administrator="admin@aloha.test",
                   noreply="noreply@aloha.test",
                   noreply_tokenized="noreply-{{token}}@aloha.test", tokens=True)
        cfg.update(settings)
        (self.deploy / "aloha-test.json").write_text(json.dumps(cfg))
        return self

    def run(self, *recipients):
        """Run manage.py directly: (rc, stdout, stderr)."""
        proc = subprocess.run([str(self.manage), "send_test_email", *recipients],
                              capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout, proc.stderr

    def ran(self):
        return json.loads((self.deploy / "ran.json").read_text())


@pytest.fixture
def fake_aloha(tmp_path):
    return FakeAloha(tmp_path / "aloha")
