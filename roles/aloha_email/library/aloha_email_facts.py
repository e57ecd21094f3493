#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only: the outgoing email settings an Aloha host really uses."""

DOCUMENTATION = r"""
---
module: aloha_email_facts
short_description: Read the effective outgoing email settings of an Aloha host
description:
  - Parses C(/etc/aloha/settings.py) with Python's C(ast) (never executes it)
    and returns the email settings in force, as Python sees them: the last
    top-level assignment of a name wins, wherever it is in the file.
  - Infers the mode the how-to describes, C(file) (Django's file backend),
    C(local) (C(localhost) port 25), C(smtp) (a provider) or C(none).
  - Tells whether C(email_password) is set in the secrets file, never its
    value. Given I(expected_password) (no_log), also tells whether the
    stored password equals it.
  - Changes nothing; supports check mode.
options:
  config_dir:
    description: Aloha's configuration directory.
    type: path
    default: /etc/aloha
  expected_password:
    description: The password the inventory holds; only compared, never returned.
    type: str
author: aloha_email maintainers
"""

EXAMPLES = r"""
- name: Read the host's email settings.
  aloha_email_facts:
    expected_password: "{{ aloha_email_password }}"
  register: facts
"""

RETURN = r"""
settings:
  description: Literal values of the email-related names assigned in settings.py (last assignment wins); absent names are not listed.
  type: dict
  returned: always
effective:
  description: What Aloha uses, with the server's defaults filled in (mode, host, port, use_tls, use_ssl, host_user, ...).
  type: dict
  returned: always
password_set:
  description: Whether email_password is set (non-empty) in aloha-secrets.conf; null when the file is missing or unreadable.
  type: bool
  returned: always
password_matches:
  description: Whether the stored password equals expected_password; null when not asked or not set.
  type: bool
  returned: always
warnings_list:
  description: Problems found while reading (unparsable file, non-literal values, broken secrets file).
  type: list
  returned: always
"""

import ast
import configparser
import os

from ansible.module_utils.basic import AnsibleModule

NAMES = (
    "aloha_ADMINISTRATOR", "EXTERNAL_HOST",
    "EMAIL_HOST", "EMAIL_HOST_USER", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_USE_SSL",
    "NOREPLY_EMAIL_ADDRESS", "ADD_TOKENS_TO_NOREPLY_ADDRESS", "TOKENIZED_NOREPLY_EMAIL_ADDRESS",
    "EMAIL_BACKEND", "EMAIL_FILE_PATH",
)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def _targets(node):
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [node.target]
    return []


def read_settings(text, filename="settings.py"):
    """(values, problems): literal values of NAMES, the last top-level
    assignment winning. A non-literal value is reported and treated as
    unknown (None)."""
    problems = []
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        return {}, ["%s does not parse: %s (line %s)" % (filename, exc.msg, exc.lineno)]
    values = {}
    for node in tree.body:
        for target in _targets(node):
            names = [target] if isinstance(target, ast.Name) else [
                elt for elt in getattr(target, "elts", []) if isinstance(elt, ast.Name)]
            for name in names:
                if name.id not in NAMES:
                    continue
                if name is not target:
                    values[name.id] = None
                    problems.append("%s is assigned by unpacking on line %d: value unknown" % (name.id, node.lineno))
                    continue
                try:
                    values[name.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    values[name.id] = None
                    problems.append("%s on line %d is not a literal: value unknown" % (name.id, node.lineno))
    return values, problems


def effective(values):
    """The settings Aloha uses, with the server's defaults."""
    external = str(values.get("EXTERNAL_HOST") or "")
    domain = external.rsplit(":", 1)[0] if ":" in external else external
    eff = dict(
        host=values.get("EMAIL_HOST"),
        host_user=values.get("EMAIL_HOST_USER", ""),
        port=values.get("EMAIL_PORT", 25),
        use_tls=bool(values.get("EMAIL_USE_TLS", False)),
        use_ssl=bool(values.get("EMAIL_USE_SSL", False)),
        backend=values.get("EMAIL_BACKEND"),
        file_path=values.get("EMAIL_FILE_PATH"),
        administrator=values.get("aloha_ADMINISTRATOR"),
        noreply_address=values.get("NOREPLY_EMAIL_ADDRESS", "noreply@%s" % domain),
        add_tokens=bool(values.get("ADD_TOKENS_TO_NOREPLY_ADDRESS", True)),
        tokenized_noreply_address=values.get("TOKENIZED_NOREPLY_EMAIL_ADDRESS", "noreply-{token}@%s" % domain),
    )
    backend = eff["backend"] or ""
    if "filebased" in backend:
        mode = "file"
    elif backend:
        mode = "backend"
    elif not eff["host"]:
        mode = "none"
    elif str(eff["host"]).lower() in LOCAL_HOSTS and str(eff["port"]) == "25":
        mode = "local"
    else:
        mode = "smtp"
    eff["mode"] = mode
    return eff


def read_password(path, expected=None):
    """(password_set, password_matches, problem). The value never leaves."""
    if not os.path.exists(path):
        return None, None, "%s does not exist" % path
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, "%s cannot be read: %s" % (path, exc.__class__.__name__)
    except configparser.Error as exc:
        # The message may quote a line of the file: say only what kind.
        return None, None, "%s is not a valid secrets file (%s): Aloha would not start" % (
            path, exc.__class__.__name__)
    value = parser.get("secrets", "email_password", fallback="")
    is_set = bool(value)
    matches = None if expected is None else (is_set and value == expected)
    return is_set, matches, None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type="path", default="/etc/aloha"),
            expected_password=dict(type="str", no_log=True),
        ),
        supports_check_mode=True,
    )
    config_dir = module.params["config_dir"]
    settings_path = os.path.join(config_dir, "settings.py")
    try:
        with open(settings_path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        module.fail_json(msg="Cannot read %s: %s" % (settings_path, exc.strerror))
    values, problems = read_settings(text, settings_path)
    password_set, password_matches, problem = read_password(
        os.path.join(config_dir, "aloha-secrets.conf"), module.params["expected_password"])
    if problem:
        problems.append(problem)
    module.exit_json(changed=False, settings=values, effective=effective(values),
                     password_set=password_set, password_matches=password_matches,
                     warnings_list=problems)


if __name__ == "__main__":
    main()
