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
  - Parses C(/etc/aloha/settings.py) with Python's C(ast) (never executes it;
    its PEP 263 coding line is honoured) and returns the email settings in
    force, as Python sees them; every binding at module scope counts, at any
    depth and in any form, and the last one wins.
  - A value that cannot be decided statically (assigned inside an C(if)
    block, not a literal, unpacked from an expression, after C(exec) or a
    star import...) is reported as unknown (C(None), listed in C(unknown)),
    never as a wrong value.
  - Infers the mode the how-to describes, C(file) (Django's file backend),
    C(local) (C(localhost) port 25), C(smtp) (a provider), C(none), or
    C(unknown) when a name that decides it is unknown.
  - Tells whether C(email_password) is set in the secrets file, never its
    value. Given I(expected_password) (no_log), also tells whether the
    stored password equals it.
  - Tells whether C(aloha.conf) keeps postfix across Aloha upgrades
    (C([postfix] uninstall = false), which local mode sets).
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
  description: Values of the email-related names Python ends up with (last binding wins); absent names are not listed; unknown ones are null.
  type: dict
  returned: always
unknown:
  description: Names whose value cannot be decided without running settings.py (their reason is in warnings_list).
  type: list
  returned: always
effective:
  description: What Aloha uses, with the server's defaults filled in (mode, host, port, use_tls, use_ssl, host_user, ...); null for unknown values.
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
postfix_kept:
  description: Whether aloha.conf sets C([postfix] uninstall) to false, so that Aloha's upgrades keep postfix; false when the key or the file is missing, null when the file cannot be read.
  type: bool
  returned: always
warnings_list:
  description: Problems found while reading (unparsable file, non-literal values, broken secrets file).
  type: list
  returned: always
"""

import configparser
import os

from ansible.module_utils.basic import AnsibleModule
# Role-local module_utils (the repository), or the collection's
# plugins/module_utils when packaged as aloha.email (galaxy.yml).
try:
    from ansible.module_utils.aloha_email_settings import SettingsError, decode, final_values, parse
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_settings import (
        SettingsError, decode, final_values, parse)

NAMES = (
    "aloha_ADMINISTRATOR", "EXTERNAL_HOST",
    "EMAIL_HOST", "EMAIL_HOST_USER", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_USE_SSL",
    "NOREPLY_EMAIL_ADDRESS", "ADD_TOKENS_TO_NOREPLY_ADDRESS", "TOKENIZED_NOREPLY_EMAIL_ADDRESS",
    "EMAIL_BACKEND", "EMAIL_FILE_PATH",
)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
# The names that decide the mode.
MODE_NAMES = ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_BACKEND")


def analyse(text, filename="settings.py"):
    """(values, unknown, problems): the values of NAMES Python ends up
    with (last binding wins, wherever it is), the names whose value cannot
    be decided statically, and what was found. Never executes the file."""
    try:
        tree = parse(text, filename)
    except SettingsError:
        return {}, [], ["%s does not parse: %s" % (filename, _syntax(text, filename))]
    values, unknown = final_values(tree, NAMES)
    for name in unknown:
        values[name] = None
    problems = [unknown[name] for name in sorted(unknown)]
    return values, sorted(unknown), problems


def _syntax(text, filename):
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return "%s (line %s)" % (getattr(exc, "msg", exc), getattr(exc, "lineno", "?"))
    return "unknown error"


def read_settings(text, filename="settings.py"):
    """(values, problems): values of NAMES as Python ends up with them; a
    value that cannot be decided statically is None, with a problem."""
    values, _, problems = analyse(text, filename)
    return values, problems


def effective(values, unknown=()):
    """The settings Aloha uses, with the server's defaults. A name in
    UNKNOWN has no default filled in (None), and when it decides the mode
    the mode is "unknown": never a guess."""
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
    fields = dict(EMAIL_HOST="host", EMAIL_HOST_USER="host_user", EMAIL_PORT="port",
                  EMAIL_USE_TLS="use_tls", EMAIL_USE_SSL="use_ssl", EMAIL_BACKEND="backend",
                  EMAIL_FILE_PATH="file_path", aloha_ADMINISTRATOR="administrator",
                  NOREPLY_EMAIL_ADDRESS="noreply_address",
                  ADD_TOKENS_TO_NOREPLY_ADDRESS="add_tokens",
                  TOKENIZED_NOREPLY_EMAIL_ADDRESS="tokenized_noreply_address")
    for name in unknown:
        if name in fields:
            eff[fields[name]] = None
    if "EXTERNAL_HOST" in unknown:
        for name in ("NOREPLY_EMAIL_ADDRESS", "TOKENIZED_NOREPLY_EMAIL_ADDRESS"):
            if name not in values:
                eff[fields[name]] = None
    backend = eff["backend"] or ""
    if set(MODE_NAMES) & set(unknown):
        mode = "unknown"
    elif "filebased" in backend:
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


def _read_ini(path, invalid):
    """(parser, problem) for the INI file at PATH. INVALID words a file that
    does not parse (% path, error kind): configparser's message may quote a
    line of the file, so only the kind of error is said."""
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError) as exc:
        return None, "%s cannot be read: %s" % (path, exc.__class__.__name__)
    except configparser.Error as exc:
        return None, invalid % (path, exc.__class__.__name__)
    return parser, None


def read_password(path, expected=None):
    """(password_set, password_matches, problem). The value never leaves."""
    if not os.path.exists(path):
        return None, None, "%s does not exist" % path
    parser, problem = _read_ini(path, "%s is not a valid secrets file (%s): Aloha would not start")
    if problem:
        return None, None, problem
    value = parser.get("secrets", "email_password", fallback="")
    is_set = bool(value)
    matches = None if expected is None else (is_set and value == expected)
    return is_set, matches, None


# How Aloha's installer reads a boolean from aloha.conf: anything else is true.
INSTALLER_FALSE = ("0", "n", "no", "f", "false", "off", "disable", "disabled")


def read_postfix_kept(path):
    """(postfix_kept, problem): whether aloha.conf at PATH tells Aloha's
    installer to keep postfix on upgrade ([postfix] uninstall = false).
    Its default, uninstall, holds for a missing key or file."""
    if not os.path.exists(path):
        return False, None
    parser, problem = _read_ini(path, "%s does not parse (%s): Aloha's installer would fail")
    if problem:
        return None, problem
    value = parser.get("postfix", "uninstall", fallback=None)
    return value is not None and value.strip().lower() in INSTALLER_FALSE, None


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
        with open(settings_path, "rb") as handle:
            text, _ = decode(handle.read(), settings_path)
    except OSError as exc:
        module.fail_json(msg="Cannot read %s: %s" % (settings_path, exc.strerror))
    except SettingsError as exc:
        module.fail_json(msg=str(exc))
    values, unknown, problems = analyse(text, settings_path)
    password_set, password_matches, problem = read_password(
        os.path.join(config_dir, "aloha-secrets.conf"), module.params["expected_password"])
    if problem:
        problems.append(problem)
    postfix_kept, problem = read_postfix_kept(os.path.join(config_dir, "aloha.conf"))
    if problem:
        problems.append(problem)
    module.exit_json(changed=False, settings=values, unknown=unknown,
                     effective=effective(values, unknown),
                     password_set=password_set, password_matches=password_matches,
                     postfix_kept=postfix_kept, warnings_list=problems)


if __name__ == "__main__":
    main()
