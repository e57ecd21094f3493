"""The one reader of settings.py (module_utils/aloha_email_settings.py) as
aloha_settings_section and aloha_email_facts use it: every binding of a
managed name in any form, Python's line numbers, operator code kept, bytes
kept (issue 10)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import aloha_email_facts as facts
from ansible.module_utils import aloha_email_settings as settings
import aloha_settings_section as mod

TITLE = "Outgoing email (SMTP) settings."
MANAGED = ["EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_HOST_USER"]
HEAD = '''################
## Mandatory settings.
aloha_ADMINISTRATOR = "support@aloha.test"
EXTERNAL_HOST = "chat.aloha.test"

'''
OLD_SECTION = '''################
## Outgoing email (SMTP) settings.
##
# EMAIL_HOST = "smtp.example.com"

'''
TAIL = '''################
## Authentication settings.
RATE_LIMITING = True
'''
SECTION = '''################
## Outgoing email (SMTP) settings.
EMAIL_HOST = "smtp.aloha.test"
EMAIL_PORT = 587
EMAIL_USE_TLS = True
'''
VALUES = dict(EMAIL_HOST="smtp.aloha.test", EMAIL_PORT=587, EMAIL_USE_TLS=True)


def run(text, content=SECTION):
    return mod.rewrite(text, "settings.py", TITLE, content, MANAGED,
                       ["EMAIL_HOST_PASSWORD"], "Mandatory settings.")


def exec_settings(text):
    scope = {}
    exec(compile(text, "settings.py", "exec"), scope)
    return scope


def refused(text, *needles):
    with pytest.raises(mod.SettingsError) as error:
        run(text)
    for needle in needles:
        assert needle in str(error.value), str(error.value)
    return str(error.value)


# --- overrides that survived ---------------------------------------------------

@pytest.mark.parametrize("block, words", [
    ("\nif True:\n    EMAIL_HOST = 'old'\n", "EMAIL_HOST is assigned inside an `if` block; move it out or delete it"),
    ("\ntry:\n    EMAIL_HOST = 'old'\nexcept Exception:\n    pass\n", "inside a `try` statement"),
    ("\nwith open('/dev/null'):\n    EMAIL_PORT = 25\n",
     "EMAIL_PORT is assigned inside a `with` block"),
    ("\nwhile True:\n    EMAIL_PORT = 25\n    break\n", "inside a `while` loop"),
    ("X = 1; EMAIL_HOST = 'old'\n", "shared with another statement (`;`)"),
    ("EMAIL_HOST = 'old'; X = 1\n", "shared with another statement (`;`)"),
    ("EMAIL_HOST, X = 'old', 1\n", "EMAIL_HOST is assigned together with X"),
    ("for EMAIL_PORT in (25,):\n    pass\n", "EMAIL_PORT is the target of a `for` loop"),
    ("print(EMAIL_PORT := 25)\n", "EMAIL_PORT is assigned with `:=`"),
    ("[(EMAIL_PORT := p) for p in (25,)]\n", "EMAIL_PORT is assigned with `:=`"),
    ("from os import sep as EMAIL_HOST\n", "EMAIL_HOST is imported"),
    ("del EMAIL_HOST\n", "EMAIL_HOST is deleted"),
    ("\ndef f():\n    global EMAIL_HOST\n    EMAIL_HOST = 'old'\nf()\n", "`global EMAIL_HOST`"),
    ("globals()['EMAIL_HOST'] = 'old'\n", "`globals`"),
    # Each dynamic name can set any global after the section.
    ("exec('EMAIL_HOST = 1')\n", "`exec` may set any setting, including the role's"),
    ("eval('0')\n", "`eval` may set any setting, including the role's"),
    ("vars()['EMAIL_HOST'] = 'old'\n", "`vars` may set any setting, including the role's"),
    ("locals()['EMAIL_HOST'] = 'old'\n", "`locals` may set any setting, including the role's"),
    ("\nfor x in (1,):\n    EMAIL_HOST = 'old'\n", "EMAIL_HOST is assigned inside a `for` loop"),
    # Python 3.11+ blocks: their bodies are searched as well.
    ("\ntry:\n    EMAIL_HOST = 'old'\nexcept* OSError:\n    pass\n",
     "EMAIL_HOST is assigned inside a `try` statement"),
    ("\nmatch 1:\n    case _: EMAIL_HOST = 'old'\n", "EMAIL_HOST is assigned inside a `match` statement"),
    ("A, *EMAIL_HOST = 1, 2, 3\n", "EMAIL_HOST is assigned together with A"),
    ("from os.path import *\n", "`from os.path import *` may set any setting"),
    ("from . import *\n", "`from . import *` may set any setting"),
    ("import EMAIL_HOST.mail\n", "EMAIL_HOST is imported under that name"),
    ("class EMAIL_HOST(object, metaclass=type): pass\n", "EMAIL_HOST is defined as a class; rename it"),
    ("def EMAIL_HOST(): pass\n", "EMAIL_HOST is defined as a function; rename it"),
])
def test_a_binding_that_cannot_be_disabled_is_refused_with_its_line(block, words):
    # The binding (or the global statement) is on the block's second line
    # for blocks, which start with a blank line here; else on the first.
    text = HEAD + OLD_SECTION + TAIL + block
    line = len((HEAD + OLD_SECTION + TAIL).splitlines()) + 1 + (2 if block.startswith("\n") else 0)
    message = refused(text, words, "line %d" % line)
    assert "nothing was changed" in message


def test_refusal_message_names_the_line_and_the_fix():
    text = HEAD + OLD_SECTION + TAIL + "if True:\n    EMAIL_HOST = 'old'\n"
    message = refused(text)
    assert ("line 15: EMAIL_HOST is assigned inside an `if` block; move it out or delete "
            "it, the role's section sets it") in message


WALRUS = "EMAIL_PORT is assigned with `:=`"


@pytest.mark.parametrize("code, line", [
    # Every expression Python evaluates in module scope: decorators, bases,
    # keywords, defaults, annotations, tests, subjects, iterables, values.
    ("@(EMAIL_PORT := staticmethod)\ndef f(): pass\n", 14),
    ("class C((EMAIL_PORT := object)): pass\n", 14),
    ("class C(metaclass=(EMAIL_PORT := type)): pass\n", 14),
    ("def f(a=(EMAIL_PORT := 1)): pass\n", 14),
    ("def f() -> (EMAIL_PORT := int): pass\n", 14),
    ("F = lambda a=(EMAIL_PORT := 1): a\n", 14),
    ("F = lambda *, a=(EMAIL_PORT := 1): a\n", 14),
    ("with (EMAIL_PORT := open('/dev/null')): pass\n", 14),
    ("if (EMAIL_PORT := 25): pass\n", 14),
    ("match (EMAIL_PORT := 1):\n    case _: pass\n", 14),
    ("for x in [(EMAIL_PORT := 1)]: pass\n", 14),
    ("X: (EMAIL_PORT := int) = 1\n", 14),
    ("X = 1\nX += (EMAIL_PORT := 1)\n", 15),
    ("assert (EMAIL_PORT := 1)\n", 14),
])
def test_a_walrus_in_any_expression_at_module_scope_is_refused(code, line):
    message = refused(HEAD + OLD_SECTION + TAIL + code)
    assert "line %d: %s; use another name, the role's" % (line, WALRUS) in message, message


@pytest.mark.parametrize("code, line, words", [
    # Inside blocks: guards, handlers' types, and every body (else, except, finally).
    ("match 1:\n    case _ if (EMAIL_PORT := 1): pass\n", 15,
     WALRUS + "; use another name (inside a `match` statement)"),
    ("try:\n    pass\nexcept (EMAIL_PORT := Exception):\n    pass\n", 16,
     WALRUS + "; use another name (inside a `try` statement)"),
    ("try:\n    pass\nexcept Exception as EMAIL_HOST:\n    pass\n", 16,
     "EMAIL_HOST is bound by `except ... as EMAIL_HOST`; use another name (inside a `try` statement)"),
    ("try:\n    pass\nexcept Exception:\n    EMAIL_HOST = 'x'\n", 17, "EMAIL_HOST is assigned inside a `try` statement"),
    ("try:\n    pass\nfinally:\n    EMAIL_HOST = 'x'\n", 17, "EMAIL_HOST is assigned inside a `try` statement"),
    ("for x in (): pass\nelse:\n    EMAIL_HOST = 'x'\n", 16, "EMAIL_HOST is assigned inside a `for` loop"),
    ("with open('/dev/null') as EMAIL_HOST: pass\n", 14,
     "EMAIL_HOST is bound by `with ... as EMAIL_HOST`; use another name"),
    ("for EMAIL_HOST in (): pass\n", 14, "EMAIL_HOST is the target of a `for` loop; rename the loop variable"),
    ("if True:\n    del EMAIL_HOST\n", 15, "EMAIL_HOST is deleted inside an `if` block"),
    ("if True:\n    EMAIL_HOST += 'x'\n", 15, "EMAIL_HOST is assigned inside an `if` block"),
    ("if True:\n    import EMAIL_HOST\n", 15, "EMAIL_HOST is imported under that name; import it "
     "under another name or delete the import (inside an `if` block)"),
    ("[A, [EMAIL_HOST]] = 1, [2]\n", 14, "EMAIL_HOST is assigned together with A; assign A on a "
     "line of its own and delete EMAIL_HOST from this statement"),
    # Forms that cannot be commented out, each with its own reason.
    ("(EMAIL_HOST,) = ('old',)\n", 14, "EMAIL_HOST is assigned by unpacking; assign it on a line "
     "of its own or delete it, the role's"),
    ("EMAIL_HOST = (X := 'old')\n", 14, "EMAIL_HOST is assigned, the role's"),  # X would be lost
    ("EMAIL_HOST = X = 'old'\n", 14, "EMAIL_HOST is assigned together with X"),
    ("X = 1; EMAIL_PORT += 1\n", 14, "EMAIL_PORT is assigned on a line shared with another "
     "statement (`;`); put it on a line of its own or delete it, the role's"),
    ("class C:\n    exec('')\n", 15, "`exec` may set any setting"),
    ("F = lambda: exec('')\n", 14, "`exec` may set any setting"),
])
def test_a_binding_in_any_part_of_a_module_statement_is_refused(code, line, words):
    message = refused(HEAD + OLD_SECTION + TAIL + code)
    assert "line %d: %s" % (line, words) in message, message


@pytest.mark.parametrize("code", [
    "def f():\n    return vars(), locals()\n",  # the function's own names
    "F = lambda: (EMAIL_PORT := 1)\n",  # the lambda's local
    "EMAIL_PORT: int\n",  # an annotation binds nothing
    "X = [1]\nX[0] = 2\nX.append(3)\n",
    "def f():\n    global X\n",  # another name
])
def test_code_that_cannot_set_a_module_name_is_kept(code):
    new, disabled = run(HEAD + OLD_SECTION + TAIL + code)
    assert disabled == [] and new.endswith(TAIL + code)


@pytest.mark.parametrize("pattern", [
    "EMAIL_HOST", "{**EMAIL_HOST}", "[*EMAIL_HOST]", "[EMAIL_HOST, *rest]", "str(EMAIL_HOST)"])
def test_a_match_pattern_binding_a_managed_name_is_refused(pattern):
    # Capture, mapping rest, star, several names, class pattern argument.
    text = HEAD + OLD_SECTION + TAIL + "match 1:\n    case %s: pass\n" % pattern
    assert refused(text).endswith(
        "line 15: EMAIL_HOST is bound by a `match` pattern; use another name (inside a "
        "`match` statement), the role's section sets it.")


def test_a_global_statement_before_the_section_is_refused_too():
    # The function may run after the section (here it does): unlike exec,
    # its place in the file does not make it harmless.
    # The message names the managed ones among the statement's names, sorted.
    text = ("def f():\n    global X, EMAIL_PORT, EMAIL_HOST\n    EMAIL_HOST = 'old'\n"
            + HEAD + OLD_SECTION + TAIL + "f()\n")
    assert refused(text).endswith(
        "line 2: `global X, EMAIL_PORT, EMAIL_HOST` in a function or class may set EMAIL_HOST, "
        "EMAIL_PORT whenever that code runs; the role cannot tell the value: remove the global "
        "statement.")


def test_the_first_two_statements_sharing_a_line_are_refused():
    assert "line 1: EMAIL_HOST is assigned on a line shared with another statement" in refused(
        "X = 1; EMAIL_HOST = 'old'\n" + HEAD + OLD_SECTION + TAIL)


def test_block_before_the_section_is_refused_too():
    refused(HEAD + "if True:\n    EMAIL_PORT = 2525\n" + OLD_SECTION + TAIL, "line 7: EMAIL_PORT")


def test_unpacking_outside_the_section_does_not_comment_out_the_other_name():
    text = HEAD + OLD_SECTION + TAIL + "EMAIL_HOST, X = 'old', 1\n"
    refused(text, "assign X on a line of its own")


@pytest.mark.parametrize("junk", ["\x0c", "# \u2028 comment\n", "S = '\u2028\x0c\x1c\x85'\n",
                                  "\x0c\n", "# \x0b\x1e\n"])
def test_line_numbers_agree_with_python_after_form_feed_and_u2028(junk):
    text = HEAD + junk + OLD_SECTION + TAIL + "EMAIL_PORT = 25\nAFTER = 1\n"
    new, disabled = run(text)
    assert disabled == [len(text.split("\n")) - 2]
    scope = exec_settings(new)
    assert scope["EMAIL_PORT"] == 587 and scope["AFTER"] == 1
    assert "# EMAIL_PORT = 25\nAFTER = 1\n" in new


def test_plain_overrides_are_still_disabled_with_the_note():
    text = HEAD + OLD_SECTION + TAIL + "EMAIL_PORT: int = 25\nEMAIL_PORT += 1\nEMAIL_HOST = EMAIL_PORT = 'x'\n"
    new, disabled = run(text)
    assert disabled == [14, 15, 16]
    assert new.count("# Disabled by Ansible (role aloha_email)") == 3
    scope = exec_settings(new)
    assert {k: scope[k] for k in VALUES} == VALUES


def test_the_note_above_a_disabled_assignment_is_exactly_one_line():
    # The whole note, then the file's newline: a line ending in an "X"
    # (here its comment) keeps its text on the commented-out line.
    new, _ = run(HEAD + OLD_SECTION + TAIL + "EMAIL_PORT = 25  # was MAX\n")
    assert new.endswith(
        TAIL + '# Disabled by Ansible (role aloha_email): EMAIL_PORT is set in the '
        '"Outgoing email (SMTP) settings" section; this assignment would override it.\n'
        "# EMAIL_PORT = 25  # was MAX\n")


def test_every_line_of_a_disabled_statement_is_commented_out():
    new, _ = run(HEAD + OLD_SECTION + TAIL + "EMAIL_HOST = [\nX\n\n]\n")
    assert new.endswith("override it.\n# EMAIL_HOST = [\n# X\n\n# ]\n")


def test_an_operator_statement_of_the_old_section_is_kept_under_a_note():
    new, _ = run(HEAD + OLD_SECTION.replace("\n\n", "\nEMAIL_TIMEOUT = 7  # MAX\n\n") + TAIL)
    assert (SECTION + "\n# Kept from the previous version of this section (not managed "
            "by aloha_email):\nEMAIL_TIMEOUT = 7  # MAX\n\n" + TAIL) in new


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_one_line_file_gives_the_section_its_newline(newline):
    # One line ending is enough to decide the file's newline; the section
    # is added at the end after a blank line.
    new, _ = run("A = 1" + newline)
    assert new == "A = 1" + newline * 2 + SECTION.replace("\n", newline)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_one_line_content_without_a_newline_gets_the_file_s(newline):
    # Its last character (an "X") is kept; only a line ending is replaced.
    content = "EMAIL_HOST = 'smtp.aloha.test'  # X"
    new, _ = run((HEAD + OLD_SECTION + TAIL).replace("\n", newline), content=content)
    assert new == (HEAD + content + "\n\n" + TAIL).replace("\n", newline)


def test_a_file_without_any_newline_gets_unix_newlines():
    new, _ = run("A = 1")
    assert new == "A = 1\n\n" + SECTION


@pytest.mark.parametrize("text", [
    HEAD.rstrip("\n") + "\nDOC = '''a\nb'''\n" + OLD_SECTION + TAIL,  # a string ends just above
    HEAD.rstrip("\n") + "\nDOC = '''a\nb'''\n\n" + OLD_SECTION + TAIL,  # two lines above
    HEAD + OLD_SECTION.replace("\n##\n", "\nDOC = '''a\nb'''\n", 1) + TAIL,  # one starts just below
])
def test_markers_next_to_a_multi_line_string_are_a_section(text):
    new, _ = run(text)
    assert new.count("## " + TITLE) == 1 and SECTION in new
    assert exec_settings(new)["DOC"] == "a\nb"


def test_markers_ending_a_string_inside_the_section_are_no_section():
    # The fake title is the string's last line: the section runs on past it.
    doc = "DOC = '''x\n################\n## y'''\n"
    new, _ = run(HEAD + OLD_SECTION + doc + TAIL)
    assert doc in new and exec_settings(new)["DOC"] == "x\n################\n## y"


def test_a_section_title_on_the_last_line_is_found():
    new, _ = run(HEAD + "################\n## " + TITLE + "\n")
    assert new == HEAD + SECTION


def test_a_longer_rule_is_no_section_rule():
    fake = "################X\n## " + TITLE + "\n"
    new, _ = run(HEAD + fake)
    assert new == HEAD + fake + "\n" + SECTION


def test_an_exec_after_the_section_is_refused_with_the_fix():
    assert refused(HEAD + OLD_SECTION + TAIL + "exec('')\n").endswith(
        "line 14: `exec` may set any setting, including the role's; the role cannot tell "
        "which: move it above the section or remove it.")


def test_markers_inside_a_string_are_no_section():
    fake = 'DOC = """\n################\n## Outgoing email (SMTP) settings.\n"""\n'
    text = HEAD + fake + OLD_SECTION + TAIL
    new, _ = run(text)
    assert new.startswith(HEAD + fake)
    assert exec_settings(new)["DOC"] == "\n################\n## Outgoing email (SMTP) settings.\n"


# --- operator code that was lost ---------------------------------------------------

def test_section_rewrite_keeps_every_other_statement_in_order():
    old_section = OLD_SECTION + (
        "import os\n"
        "EMAIL_HOST = 'replaced'\n"
        "EMAIL_TIMEOUT = int(os.environ.get('ALOHA_T', '7'))\n"
        "if os.sep == '/':\n"
        "    EMAIL_SUBJECT_PREFIX = '[aloha] '\n"
        "@staticmethod\n"
        "def helper():\n"
        "    return 1\n\n")
    new, _ = run(HEAD + old_section + TAIL)
    scope = exec_settings(new)
    assert scope["EMAIL_TIMEOUT"] == 7 and scope["EMAIL_SUBJECT_PREFIX"] == "[aloha] "
    assert {k: scope[k] for k in VALUES} == VALUES
    body = new[new.index(SECTION) + len(SECTION):]
    assert body.index("import os") < body.index("EMAIL_TIMEOUT") < body.index("if os.sep") < body.index("@staticmethod")
    assert "replaced" not in new
    assert run(new)[0] == new


def test_candidate_is_verified_as_python_runs_it():
    # The content itself must give the managed names their final value.
    with pytest.raises(mod.SettingsError, match="would not give the section's values"):
        run(HEAD + OLD_SECTION + TAIL, content=SECTION + "if True:\n    EMAIL_PORT = 1\n")
    with pytest.raises(mod.SettingsError, match="import \\*"):
        run(HEAD + OLD_SECTION + TAIL + "from os.path import *\n")
    # Before the section a star import is harmless: the section comes later.
    new, _ = run("from os.path import *\n" + HEAD + OLD_SECTION + TAIL)
    assert exec_settings(new)["EMAIL_PORT"] == 587


# --- bytes ---------------------------------------------------------------------------

def test_crlf_file_keeps_its_bytes_and_the_section_uses_crlf():
    text = (HEAD + OLD_SECTION + TAIL + "EMAIL_PORT = 25\n").replace("\n", "\r\n")
    new, disabled = run(text)
    assert "\n" not in new.replace("\r\n", "")
    assert new.startswith(HEAD.replace("\n", "\r\n"))
    assert new.endswith(TAIL.replace("\n", "\r\n") + mod.DISABLED_NOTE.format(
        name="EMAIL_PORT", title=TITLE[:-1]) + "\r\n# EMAIL_PORT = 25\r\n")
    assert exec_settings(new)["EMAIL_PORT"] == 587
    assert run(new)[0] == new


def test_mixed_line_endings_are_kept_outside_the_section():
    head = HEAD.replace("\n", "\r\n", 2)
    tail = TAIL.replace("\n", "\r", 1)
    new, _ = run(head + OLD_SECTION + tail)
    assert new.startswith(head) and new.endswith(tail)


def test_latin1_coding_line_is_honoured_and_bom_kept():
    text = "# -*- coding: latin-1 -*-\nNAME = 'Café'\n" + HEAD + OLD_SECTION + TAIL
    data = text.encode("latin-1")
    decoded, encoding = mod.decode(data, "settings.py")
    assert decoded == text and encoding == "iso-8859-1"
    new, _ = run(decoded)
    out = mod.encode(new, encoding, "settings.py")
    assert out.startswith(b"# -*- coding: latin-1 -*-\nNAME = 'Caf\xe9'\n")
    assert exec_settings(out)["NAME"] == "Café"
    bom = b"\xef\xbb\xbf" + (HEAD + OLD_SECTION + TAIL).encode()
    decoded, encoding = mod.decode(bom, "settings.py")
    assert mod.encode(run(decoded)[0], encoding, "settings.py").startswith(b"\xef\xbb\xbf" + HEAD.encode())


def test_unknown_coding_and_unencodable_content_are_clear_refusals():
    assert _refusal(mod.decode, b"# -*- coding: klingon -*-\nA = 1\n", "settings.py") == (
        "settings.py cannot be read as Python reads it: unknown encoding: klingon. Aloha "
        "cannot load it either; fix the coding declaration (or remove it and save the "
        "file as UTF-8), then run the role again.")
    with pytest.raises(mod.SettingsError, match="latin-1 cannot represent|iso-8859-1 cannot represent"):
        mod.encode("EMAIL_HOST_USER = '\u20ac'\n", "iso-8859-1", "settings.py")


# --- where the section goes, exactly ------------------------------------------------

def test_a_missing_section_goes_after_insert_after_and_before_the_next_one():
    new, _ = run(HEAD + TAIL)
    assert new == HEAD + SECTION + "\n" + TAIL


@pytest.mark.parametrize("text", [TAIL, TAIL + "\n"])
def test_without_insert_after_the_section_ends_the_file_after_one_blank_line(text):
    new, _ = run(text)
    assert new == TAIL + "\n" + SECTION


def test_a_section_that_ends_the_file_is_replaced_without_a_trailing_blank_line():
    new, _ = run(HEAD + OLD_SECTION)
    assert new == HEAD + SECTION


@pytest.mark.parametrize("statement", ["EMAIL_TIMEOUT = 7\n", "EMAIL_TIMEOUT = (\n    7)\n"])
def test_a_kept_statement_the_new_content_has_too_is_not_repeated(statement):
    old_section = OLD_SECTION.replace("\n\n", "\n" + statement + "\n")
    new, _ = run(HEAD + old_section + TAIL, content=SECTION + statement)
    assert new == HEAD + SECTION + statement + "\n" + TAIL


def test_the_disabled_notes_do_not_decide_the_file_s_newline():
    # Five CRLF lines against four LF ones once the notes are left out: CRLF.
    text = HEAD.replace("\n", "\r\n") + OLD_SECTION + TAIL + "EMAIL_PORT = 25\n"
    new, _ = run(text)
    assert new.startswith(HEAD.replace("\n", "\r\n") + SECTION.replace("\n", "\r\n") + "\r\n" + TAIL)
    assert run(new)[0] == new


# --- refusals of the rewrite, in full ------------------------------------------------

def test_a_forbidden_name_is_refused_with_the_way_to_give_the_password():
    assert refused(HEAD + OLD_SECTION + TAIL + "EMAIL_HOST_PASSWORD = 'x'\n") == (
        "settings.py sets EMAIL_HOST_PASSWORD on line 14. Aloha never reads it, and by policy "
        "settings.py holds no secret: delete that line and give the password as the vault "
        "variable aloha_email_password, which the role writes to aloha-secrets.conf as "
        "email_password.")


def test_a_statement_across_the_section_boundary_is_refused():
    assert refused(HEAD + "X = (1,\n" + OLD_SECTION + ")\n" + TAIL) == (
        "settings.py: refusing to edit it, nothing was changed: line 6: a statement runs across "
        "the boundary of the section starting on line 7 (or of the next one); end it before the "
        "section's sixteen-# line.")


def test_problems_are_listed_in_line_order():
    message = refused(HEAD + OLD_SECTION + TAIL + "exec('')\nif 1:\n    EMAIL_PORT = 1\n")
    assert message.index("line 14: `exec`") < message.index("move it above the section or remove it; line 16: EMAIL_PORT")


def test_exec_inside_the_old_section_is_refused():
    # Kept below the new content, it would run after it.
    message = refused(HEAD + OLD_SECTION.replace("\n\n", "\nexec('')\n\n") + TAIL)
    assert "line 10: `exec` may set any setting" in message


@pytest.mark.parametrize("text", [
    HEAD.rstrip("\n") + "\nexec('')\n" + OLD_SECTION + TAIL,  # just above the section
    HEAD.rstrip("\n") + "\nexec('')\n" + TAIL,  # just above where it goes
])
def test_exec_just_above_the_section_is_accepted(text):
    new, _ = run(text)
    assert "exec('')\n" + SECTION in new


def test_content_that_does_not_compile_is_refused_with_its_line():
    with pytest.raises(mod.SettingsError) as error:
        run(HEAD + OLD_SECTION + TAIL, content=SECTION + "EMAIL_HOST_USER = 'x\n")
    assert re.match(r"the rewritten settings.py would not compile \(line 11: unterminated string "
                    r"literal[^)]*\)\); nothing was changed. Check aloha_email_\* values for stray "
                    r"quotes.$", str(error.value)), str(error.value)


def test_plan_of_a_missing_file_asks_whether_aloha_is_installed(tmp_path):
    path = str(tmp_path / "settings.py")
    assert _refusal(settings.plan, path, TITLE, SECTION, MANAGED, [], "Mandatory settings.") == (
        "%s does not exist. Is Aloha installed on this host? Set aloha_email_config_dir if its "
        "configuration lives elsewhere." % path)


def test_plan_follows_a_symlink_and_reports_the_settings_python_ends_up_with(tmp_path):
    real = tmp_path / "real.py"
    real.write_bytes((HEAD + OLD_SECTION + TAIL + "EMAIL_PORT = 25\n").encode())
    (tmp_path / "settings.py").symlink_to(real)
    planned = settings.plan(str(tmp_path / "settings.py"), TITLE, SECTION, MANAGED, [],
                            "Mandatory settings.")
    assert planned["path"] == str(real) and planned["disabled"] == [14]
    assert planned["old_bytes"] == real.read_bytes() and planned["new_bytes"] == planned["new"].encode()
    assert planned["settings"] == {"aloha_ADMINISTRATOR": "support@aloha.test",
                                   "EXTERNAL_HOST": "chat.aloha.test"}


def test_dynamic_code_in_the_new_content_is_refused_in_full():
    # From the content's first line on: the check of the candidate file.
    dynamic = ("`%s` may set any setting, including the role's; the role cannot tell which: "
               "move it above the section or remove it")
    with pytest.raises(mod.SettingsError) as error:
        run(HEAD + OLD_SECTION + TAIL, content="exec('')\n" + SECTION + "eval('')\n")
    assert str(error.value) == (
        "settings.py: the rewritten file would not give the section's values (line 6: %s; "
        "line 12: %s); nothing was changed." % (dynamic % "exec", dynamic % "eval"))


def test_a_null_byte_in_the_new_content_is_refused():
    # Python 3.11 gives no line number ("?"), 3.12+ does.
    with pytest.raises(mod.SettingsError) as error:
        run(HEAD + OLD_SECTION + TAIL, content=SECTION + "A = 1\x00\n")
    assert re.match(r"the rewritten settings.py would not compile \(line (\?|\d+): .*null bytes\)",
                    str(error.value)), str(error.value)


def _refusal(call, *args):
    with pytest.raises(mod.SettingsError) as error:
        call(*args)
    return str(error.value)


def test_invalid_bytes_are_refused_with_the_offset_and_the_fix():
    # Past the first two lines (where the coding line is read), so that the
    # decoding itself fails; byte 17 is the \xff.
    assert _refusal(mod.decode, b"A = 1\nB = 2\nC = '\xff'\n", "settings.py") == (
        "settings.py is not valid utf-8 (UnicodeDecodeError at byte 17): Aloha cannot "
        "load it either. Save it in the encoding its coding declaration names (UTF-8 "
        "without one), then run the role again.")


def test_unencodable_section_is_refused_with_the_character_and_the_fix():
    assert _refusal(mod.encode, "EMAIL_HOST_USER = '\u20ac'\n", "iso-8859-1", "settings.py") == (
        "the new section of settings.py holds '\u20ac', which the file's declared encoding "
        "iso-8859-1 cannot represent; nothing was changed. Use only characters of that "
        "encoding in the aloha_email_* values, or convert the file to UTF-8 (and drop its "
        "coding line).")


def test_syntax_error_is_refused_with_its_line_and_python_s_words():
    assert _refusal(mod.parse, "A = 1\nB = = 2\n", "settings.py") == (
        "settings.py has a Python syntax error at line 2: invalid syntax. Aloha cannot "
        "load it either; fix that line by hand, then run the role again.")


def test_null_byte_is_refused_as_a_syntax_error():
    # Python 3.11 raises ValueError (no line number: "?"), 3.12+ SyntaxError.
    message = _refusal(mod.parse, "A = 1\x00\n", "settings.py")
    assert re.match(r"settings.py has a Python syntax error at line (\?|1): .*null bytes\. "
                    r"Aloha cannot load it either", message), message


# --- the audit ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected, unknown", [
    ("EMAIL_PORT = 587\nif True:\n    EMAIL_PORT = 25\n", {}, ["EMAIL_PORT"]),
    ("EMAIL_PORT = 587\nX = 1; EMAIL_PORT = 25\n", {"EMAIL_PORT": 25}, []),
    ("EMAIL_HOST, X = 'a.example', 1\n", {"EMAIL_HOST": "a.example"}, []),
    ("EMAIL_HOST = 'a'\nfor EMAIL_HOST in ['b']:\n    pass\n", {}, ["EMAIL_HOST"]),
    ("EMAIL_PORT = 587\n(EMAIL_PORT := 25)\n", {}, ["EMAIL_PORT"]),
    ("EMAIL_PORT = 587\ndel EMAIL_PORT\n", {}, []),
])
def test_audit_reports_the_value_python_uses_or_unknown(text, expected, unknown):
    # read_settings: the function the module has always had; unknown is None.
    values, problems = facts.read_settings(text)
    assert values == dict(expected, **dict.fromkeys(unknown))
    assert len(problems) == len(unknown)
    if "EMAIL_PORT" in unknown:
        assert facts.effective(values, unknown)["mode"] == "unknown"


UNPACKED = ("line 1: EMAIL_HOST is assigned together with {0}; assign {0} on a line of its own "
            "and delete EMAIL_HOST from this statement: value unknown")


@pytest.mark.parametrize("text, name, value, problem", [
    # The last literal wins; a later literal makes an earlier unknown known.
    ("EMAIL_PORT = 25\nEMAIL_PORT = int('2')\nEMAIL_PORT = 26\n", "EMAIL_PORT", 26, None),
    ("EMAIL_PORT = int('25')\n", "EMAIL_PORT", None, "EMAIL_PORT on line 1 is not a literal: value unknown"),
    ("EMAIL_PORT: int = 25\n", "EMAIL_PORT", 25, None),
    ("EMAIL_PORT: int\n", "EMAIL_PORT", "absent", None),
    # Unpacking: a literal of the same length, name by name; last one wins.
    ("EMAIL_HOST, EMAIL_HOST = 'a', 'b'\n", "EMAIL_HOST", "b", None),
    ("[EMAIL_HOST, X] = ['a', 1]\n", "EMAIL_HOST", "a", None),
    ("EMAIL_HOST, X = 'a', int('1')\n", "EMAIL_HOST", "a", None),
    ("X, EMAIL_HOST = int('1'), 'a'\n", "EMAIL_HOST", "a", None),
    ("EMAIL_HOST, X = 'a', *Y\n", "EMAIL_HOST", None, UNPACKED.format("X")),
    ("EMAIL_HOST, *X = 'a', 1\n", "EMAIL_HOST", None, UNPACKED.format("X")),
    ("A = EMAIL_HOST, X = 'a', 1\n", "EMAIL_HOST", None, UNPACKED.format("A, X")),
    ("EMAIL_HOST, (X, Y) = 'a', (1, 2)\n", "EMAIL_HOST", None, UNPACKED.format("X, Y")),
    ("EMAIL_HOST, X = 'a', 1, 2\n", "EMAIL_HOST", None, UNPACKED.format("X")),
    ("EMAIL_HOST, X = T\n", "EMAIL_HOST", None, UNPACKED.format("X")),
    ("EMAIL_PORT = 1\nEMAIL_PORT += 1\n", "EMAIL_PORT", None,
     "line 2: EMAIL_PORT is changed with an augmented assignment: value unknown"),
    ("EMAIL_PORT = 1\nif x:\n    del EMAIL_PORT\n", "EMAIL_PORT", None,
     "line 3: EMAIL_PORT is deleted inside an `if` block; move it out or delete it: value unknown"),
    # A deletion forgets the value and its problem.
    ("EMAIL_PORT = int('1')\ndel EMAIL_PORT\n", "EMAIL_PORT", "absent", None),
    ("EMAIL_PORT = 25\ndef f():\n    global EMAIL_PORT\n", "EMAIL_PORT", None,
     "`global EMAIL_PORT` on line 3 may set EMAIL_PORT: value unknown"),
    ("EMAIL_PORT = 25\nexec('')\n", "EMAIL_PORT", None, "`exec` on line 2 may set EMAIL_PORT: value unknown"),
])
def test_audit_value_and_problem_of_each_form(text, name, value, problem):
    values, unknown = settings.final_values(settings.parse(text, "settings.py"), [name])
    assert values.get(name, "absent" if problem is None else None) == value
    assert unknown == ({name: problem} if problem else {})


def test_audit_star_import_makes_every_earlier_value_unknown():
    values, names, problems = facts.analyse("EMAIL_PORT = 25\nfrom os.path import *\nEMAIL_HOST = 'a'\n")
    assert "EMAIL_PORT" in names and "EMAIL_HOST" not in names
    assert values["EMAIL_HOST"] == "a" and values["EMAIL_PORT"] is None
    assert any("import *` on line 2 may set EMAIL_PORT" in p for p in problems)


def test_audit_module_reads_a_latin1_file(run_module, tmp_path):
    conf = tmp_path / "etc-aloha"
    conf.mkdir()
    (conf / "settings.py").write_bytes(
        "# -*- coding: latin-1 -*-\naloha_ADMINISTRATOR = 'café@aloha.test'\n"
        "EMAIL_HOST = 'smtp.aloha.test'\nEMAIL_PORT = 587\n".encode("latin-1"))
    proc, result = run_module("aloha_email_facts", {"config_dir": str(conf)}, check=True)
    assert result.get("failed") is not True, result
    assert result["settings"]["aloha_ADMINISTRATOR"] == "café@aloha.test"


def test_section_module_keeps_latin1_and_crlf_bytes(run_module, tmp_path):
    path = tmp_path / "settings.py"
    text = ("# -*- coding: latin-1 -*-\nNAME = 'Café'\n" + HEAD + OLD_SECTION + TAIL).replace("\n", "\r\n")
    path.write_bytes(text.encode("latin-1"))
    proc, result = run_module("aloha_settings_section", dict(
        path=str(path), content=SECTION, managed_names=MANAGED))
    assert result.get("failed") is not True, result
    data = path.read_bytes()
    head = ("# -*- coding: latin-1 -*-\nNAME = 'Café'\n" + HEAD).replace("\n", "\r\n").encode("latin-1")
    assert data.startswith(head) and data.endswith(TAIL.replace("\n", "\r\n").encode())
    assert exec_settings(data)["EMAIL_PORT"] == 587


def test_section_module_refuses_before_any_change(run_module, tmp_path):
    path = tmp_path / "settings.py"
    data = (HEAD + OLD_SECTION + TAIL + "if True:\n    EMAIL_HOST = 'old'\n").encode()
    path.write_bytes(data)
    proc, result = run_module("aloha_settings_section", dict(
        path=str(path), content=SECTION, managed_names=MANAGED))
    assert result["failed"] is True
    assert "line 15: EMAIL_HOST is assigned inside an `if` block" in result["msg"]
    assert "Traceback" not in result["msg"]
    assert path.read_bytes() == data


@pytest.mark.parametrize("target", ["X[0]", "x.attr"])
def test_a_name_assigned_together_with_a_subscript_or_attribute_is_refused(target):
    # Commenting the line out would lose the operator's own assignment.
    text = HEAD + OLD_SECTION + TAIL + "%s = EMAIL_HOST = 'old'\n" % target
    assert refused(text).endswith(
        "line 14: EMAIL_HOST is assigned together with {t}; assign {t} on a line of its own "
        "and delete EMAIL_HOST from this statement, the role's section sets it.".format(t=target))


@pytest.mark.parametrize("body", ["global EMAIL_PORT\n    EMAIL_PORT = 1", "exec('EMAIL_PORT = 1')"])
def test_audit_a_function_that_may_set_a_value_after_its_last_assignment(body):
    # f() runs after the last assignment: Python ends with 1, not 25.
    text = "def f():\n    %s\n\n\nEMAIL_PORT = 25\nf()\n" % body
    values, unknown = settings.final_values(settings.parse(text, "settings.py"), ["EMAIL_PORT"])
    assert "EMAIL_PORT" not in values
    assert unknown["EMAIL_PORT"].endswith("on line 2 may set EMAIL_PORT: value unknown")


def test_a_candidate_that_would_not_compile_is_refused_with_its_line():
    # A value the template failed to quote: the check of the candidate
    # names the line Python stops at and what it says.
    content = SECTION + "EMAIL_HOST = 'unterminated\n"
    # The section replaces the old one, right after HEAD.
    line = HEAD.count("\n") + SECTION.count("\n") + 1
    with pytest.raises(mod.SettingsError) as error:
        run(HEAD + OLD_SECTION + TAIL, content=content)
    assert str(error.value) == (
        "the rewritten settings.py would not compile (line %d: unterminated string literal "
        "(detected at line %d)); nothing was changed. Check aloha_email_* values for stray quotes."
        % (line, line))


TYPE_ALIAS_PROBE = r'''
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("settings_under_test", sys.argv[1])
s = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s)
text = sys.argv[2]
out = {"version": list(sys.version_info[:2])}
try:
    out["new"], out["disabled"] = s.rewrite(text, "settings.py", sys.argv[3], sys.argv[4], ["EMAIL_HOST"],
                                            [], "Mandatory settings.")
    out["unknown"] = s.final_values(s.parse(text, "settings.py"), ["EMAIL_HOST"])[1]
except s.SettingsError as exc:
    out["refused"] = str(exc)
print(json.dumps(out))
'''


def test_a_type_alias_of_a_managed_name_is_disabled_where_python_has_them(target_python):
    # `type EMAIL_HOST = int` (Python 3.12 and later: Debian 13's 3.13 runs
    # the module) binds EMAIL_HOST after the section like an assignment:
    # disabled with the note, and the audit cannot tell its value. An older
    # Python (Debian 12's 3.11) cannot parse the file: refused with the line.
    text = HEAD + OLD_SECTION + TAIL + "type EMAIL_HOST = int\n"
    line = text.count("\n")
    probe = subprocess.run([target_python, "-c", TYPE_ALIAS_PROBE, settings.__file__, text, TITLE, SECTION],
                           capture_output=True, text=True, check=True)
    out = json.loads(probe.stdout)
    if out["version"] >= [3, 12]:
        assert out["disabled"] == [line], out
        assert out["new"].endswith(
            'RATE_LIMITING = True\n# Disabled by Ansible (role aloha_email): EMAIL_HOST is set in the '
            '"Outgoing email (SMTP) settings" section; this assignment would override it.\n'
            '# type EMAIL_HOST = int\n'), out["new"]
        assert out["unknown"] == {"EMAIL_HOST": "line %d: EMAIL_HOST is assigned: value unknown" % line}
    else:
        assert out["refused"] == (
            "settings.py has a Python syntax error at line %d: invalid syntax. Aloha cannot load it "
            "either; fix that line by hand, then run the role again." % line)
