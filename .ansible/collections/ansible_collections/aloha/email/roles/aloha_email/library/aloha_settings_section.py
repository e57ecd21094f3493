#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) the aloha_email role authors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewrite one section of Aloha's /etc/aloha/settings.py, nothing else."""

from __future__ import annotations

DOCUMENTATION = r"""
module: aloha_settings_section
short_description: Replace one titled section of Aloha's settings.py
description:
  - Aloha's C(/etc/aloha/settings.py) is a series of sections, each opened by
    a line of sixteen C(#) and a C(## Title.) line. This module replaces the
    body of one section with I(content).
  - Every statement that binds one of I(managed_names) at module scope is
    found, at any depth and in any form. A plain top-level assignment on
    lines of its own outside the section, which would silently override the
    section (in Python the last assignment wins), is commented out with a
    note that says why. Any other form (inside an C(if), C(try), C(with) or
    loop, after a C(;), unpacked together with other names, a loop or
    C(with) target, C(:=), an import, C(del), C(global) in a function) is
    refused before any change, with the line number and the fix; so are
    C(exec), C(globals()) and star imports after the section.
  - Every statement of the old section that binds no managed name (imports,
    blocks, other settings) is kept, in order, after the managed block.
  - Before writing, the candidate file is parsed and checked; every
    managed name's last binding must be the section's, else nothing is
    changed.
  - Outside the section and the disabled lines every byte is kept; line
    endings (LF, CRLF, mixed; the section uses the file's dominant one),
    the UTF-8 BOM and a PEP 263 coding line, which is honoured.
  - A missing section is inserted after the section titled I(insert_after),
    or at the end of the file.
  - The file is refused when it does not compile or assigns one of
    I(forbidden_names); the candidate file is compiled before it replaces
    the old one, atomically.
options:
  path:
    description: Path of settings.py.
    type: path
    required: true
  title:
    description: Title of the section, as on its C(## ) line.
    type: str
    default: Outgoing email (SMTP) settings.
  content:
    description:
      - The whole new section, starting with its sixteen-C(#) line and title.
    type: str
    required: true
  managed_names:
    description: Setting names the section owns.
    type: list
    elements: str
    required: true
  forbidden_names:
    description: Names settings.py must never assign (secrets).
    type: list
    elements: str
    default: [EMAIL_HOST_PASSWORD]
  insert_after:
    description: Title of the section after which a missing section goes.
    type: str
    default: Mandatory settings.
extends_documentation_fragment: [files]
author: aloha_email developers
"""

EXAMPLES = r"""
- name: Write the outgoing email section of settings.py.
  aloha_settings_section:
    path: /etc/aloha/settings.py
    content: "{{ lookup('ansible.builtin.template', 'etc/aloha/settings.py.email-section.j2') }}"
    managed_names: [EMAIL_HOST, EMAIL_PORT]
"""

RETURN = r"""
needs_change:
  description: Whether the file differs from what the module writes (content, owner, group or mode).
    The same as C(changed), but kept when a task overrides C(changed), as the role's dry run does.
  type: bool
  returned: always
settings:
  description: Values of aloha_ADMINISTRATOR and EXTERNAL_HOST Python ends up with in the new file (where statically known).
  type: dict
  returned: always
disabled:
  description: Line numbers (1-based, in the old file) of assignments that were commented out.
  type: list
  returned: always
msg:
  description: What was done.
  type: str
  returned: always
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
# Role-local module_utils (the repository), or the collection's
# plugins/module_utils when packaged as aloha.email (galaxy.yml).
try:
    from ansible.module_utils.aloha_email_settings import (  # noqa: F401 (tests use them)
        DISABLED_NOTE,
        SettingsError,
        decode,
        encode,
        final_values,
        parse,
        plan,
        rewrite,
    )
except ImportError:
    from ansible_collections.aloha.email.plugins.module_utils.aloha_email_settings import (  # noqa: F401
        DISABLED_NOTE,
        SettingsError,
        decode,
        encode,
        final_values,
        parse,
        plan,
        rewrite,
    )


def literal_settings(tree, names):
    """Values of NAMES Python ends up with, where statically known."""
    return final_values(tree, names)[0]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            title=dict(type="str", default="Outgoing email (SMTP) settings."),
            content=dict(type="str", required=True),
            managed_names=dict(type="list", elements="str", required=True),
            forbidden_names=dict(type="list", elements="str", default=["EMAIL_HOST_PASSWORD"]),
            insert_after=dict(type="str", default="Mandatory settings."),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    p = module.params
    try:
        planned = plan(p["path"], p["title"], p["content"], p["managed_names"],
                       p["forbidden_names"], p["insert_after"])
    except SettingsError as exc:
        module.fail_json(msg=str(exc))
    path, old, new = planned["path"], planned["old"], planned["new"]
    old_bytes, new_bytes, disabled = planned["old_bytes"], planned["new_bytes"], planned["disabled"]
    settings = planned["settings"]

    changed = new_bytes != old_bytes
    result = dict(changed=changed, disabled=disabled, msg="section up to date", settings=settings)
    if changed:
        result["msg"] = "section rewritten" + (
            "; disabled overriding assignments on lines %s" % disabled if disabled else ""
        )
        if module._diff:
            result["diff"] = dict(before=old, after=new, before_header=path, after_header=path)
        if not module.check_mode:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".settings.py.")
            with os.fdopen(fd, "wb") as f:
                f.write(new_bytes)
            module.atomic_move(tmp, path)
    file_args = module.load_file_common_arguments(p, path=path)
    result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    result["needs_change"] = result["changed"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
