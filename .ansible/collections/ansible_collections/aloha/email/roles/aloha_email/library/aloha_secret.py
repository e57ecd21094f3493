#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aloha_secret
short_description: Set one key in Aloha's secrets file
description:
  - Sets or removes one key in the C([secrets]) section of
    C(/etc/aloha/aloha-secrets.conf), the INI file that Aloha reads with
    Python's C(configparser.RawConfigParser).
  - Edits the file line by line; every other line (other secrets, comments,
    blank lines, other sections) is kept byte for byte.
  - Before replacing the file, re-reads the new content with
    C(RawConfigParser) and checks that the value round-trips exactly and that
    no other value changed.
  - Never makes backups, because a backup would be another copy of the
    secrets.
  - The diff masks every secret value in the file, and the text of every
    comment line (commented-out old secrets).
  - A file that starts with a UTF-8 byte order mark is refused with a clear
    message, as Aloha's RawConfigParser cannot read it either.
version_added: "1.0.0"
options:
  path:
    description: Path of the secrets file.
    type: path
    required: true
  key:
    description: Key in the C([secrets]) section, matched case-insensitively.
    type: str
    default: email_password
  value:
    description:
      - Value to store. Required when O(state=present).
      - Refused when empty, with leading or trailing whitespace, with control
        characters (newline, carriage return, tab...), or non-ASCII.
    type: str
  state:
    description: Whether the key should be present or absent.
    type: str
    choices: [present, absent]
    default: present
  create:
    description:
      - Create a missing file as C([secrets]) plus the key line.
      - When false, a missing file is an error for O(state=present).
    type: bool
    default: true
extends_documentation_fragment:
  - files
notes:
  - Supports check mode and diff mode.
  - A duplicate key or a missing C([secrets]) header makes Aloha refuse to
    start; the module fails on such a file instead of guessing.
author:
  - aloha_email role authors
"""

EXAMPLES = r"""
- name: Store the SMTP password
  aloha_secret:
    path: /etc/aloha/aloha-secrets.conf
    key: email_password
    value: "{{ aloha_email_password }}"
    owner: aloha
    group: aloha
    mode: "0640"
  no_log: true

- name: Remove the SMTP password
  aloha_secret:
    path: /etc/aloha/aloha-secrets.conf
    state: absent
"""

RETURN = r"""
needs_change:
  description: Whether the file differs from what the module writes (value, owner, group or mode).
    The same as C(changed), but kept when a task overrides C(changed), as the role's dry run does.
  type: bool
  returned: always
msg:
  description: What was done.
  returned: always
  type: str
  sample: email_password updated in /etc/aloha/aloha-secrets.conf
diff:
  description: Before and after content with every secret value masked.
  returned: when diff mode is on
  type: dict
  sample:
    before: "[secrets]\nsecret_key = ********\nemail_password = ********\n"
    after: "[secrets]\nsecret_key = ********\nemail_password = ******** (changed)\n"
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

# Role-local module_utils (the repository), or the collection's
# plugins/module_utils when packaged as aloha.email (galaxy.yml).
try:
    from ansible.module_utils.aloha_email_secrets import (  # noqa: F401 (tests use them)
        Entry,
        MASK,
        NONSPACECRE,
        OPTCRE,
        SECTCRE,
        SECTION,
        SecretsFileError,
        compute,
        config_values,
        describe_parse_error,
        masked,
        parse,
        plan,
        read_config,
        split_lines,
        strip_eol,
        value_problem,
        verify,
    )
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_secrets import (  # noqa: F401
        Entry,
        MASK,
        NONSPACECRE,
        OPTCRE,
        SECTCRE,
        SECTION,
        SecretsFileError,
        compute,
        config_values,
        describe_parse_error,
        masked,
        parse,
        plan,
        read_config,
        split_lines,
        strip_eol,
        value_problem,
        verify,
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            key=dict(type="str", default="email_password", no_log=False),
            value=dict(type="str", no_log=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            create=dict(type="bool", default=True),
        ),
        required_if=[("state", "present", ["value"])],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    try:
        planned = plan(module.params["path"], module.params["key"], module.params["value"],
                       module.params["state"], module.params["create"])
    except SecretsFileError as exc:
        module.fail_json(msg=to_native(exc))
    path, exists, new_text = planned["path"], planned["exists"], planned["new_text"]
    action, before, after = planned["action"], planned["before"], planned["after"]
    original_values = planned["original_values"]
    key, value, state = module.params["key"], module.params["value"], module.params["state"]
    result = dict(changed=False, msg="")

    if new_text is not None:
        result["changed"] = True
        if not module.check_mode:
            directory = os.path.dirname(path) or "."
            # Same directory, so the rename is atomic; mkstemp makes it 0600.
            fd, tmp_path = tempfile.mkstemp(prefix=".aloha-secret.", suffix=".tmp",
                                            dir=directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(new_text.encode("utf-8", errors="surrogateescape"))
                    handle.flush()
                    os.fsync(handle.fileno())
                problem = verify(tmp_path, original_values, key, value, state)
                if problem:
                    module.fail_json(msg="Not writing %s: %s. The file was left "
                                         "unchanged." % (path, problem))
                if exists:
                    module.atomic_move(tmp_path, path)
                else:
                    # atomic_move gives a new file 0666 & ~umask: keep the
                    # secret private until the requested mode is applied.
                    old_umask = os.umask(0o077)
                    try:
                        module.atomic_move(tmp_path, path)
                    finally:
                        os.umask(old_umask)
            finally:
                if os.path.exists(tmp_path):
                    os.unlink(tmp_path)

    messages = {
        "created": "%s created with %s",
        "added": "%s: %s added",
        "updated": "%s: %s updated",
        "removed": "%s: %s removed",
        "unchanged": "%s: %s already up to date",
        "absent": "%s: %s already absent",
    }
    result["msg"] = messages[action] % (path, key)

    # Ownership and mode; on a file that check mode did not create there is
    # nothing to apply them to.
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params, path=path)
        result["changed"] = module.set_fs_attributes_if_different(
            file_args, result["changed"])

    result["needs_change"] = result["changed"]
    if module._diff:
        result["diff"] = dict(before=before, after=after,
                              before_header=path, after_header=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
