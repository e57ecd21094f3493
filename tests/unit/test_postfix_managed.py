"""The parameters main.cf.j2 writes are exactly those vars/main.yml lists as
the role's own (__aloha_email_local_postfix_managed): the check phase
refuses them in aloha_email_local_postfix_extra, so a parameter added to
the template without the list could be overridden silently."""

import re
from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles/aloha_email"
TEMPLATE = (ROLE / "templates/etc/postfix/main.cf.j2").read_text()
VARS = yaml.safe_load((ROLE / "vars/main.yml").read_text())
DEFAULTS = yaml.safe_load((ROLE / "defaults/main.yml").read_text())


def test_every_parameter_of_the_template_is_listed_as_managed():
    written = set(re.findall(r"^([A-Za-z0-9_]+) =", TEMPLATE, re.MULTILINE))
    assert written == set(VARS["__aloha_email_local_postfix_managed"])


def test_the_variable_named_for_a_managed_parameter_exists():
    named = {v for v in VARS["__aloha_email_local_postfix_managed"].values() if v}
    assert named <= set(DEFAULTS)
