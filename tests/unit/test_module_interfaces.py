"""Each module's documentation (what `ansible-doc` shows a user) parses,
and the options it documents are the module's real ones: a documented
default is the value the module runs with, a documented required option is
required, and a path, int or bool option converts a value the way Ansible
documents it. EXAMPLES and RETURN parse too, and the examples call the
module."""

import ast
import os
from pathlib import Path

import pytest
import yaml

LIBRARY = Path(__file__).resolve().parents[2] / "roles" / "aloha_email" / "library"
MODULES = sorted(path.stem for path in LIBRARY.glob("*.py"))
NO_LOG_MASK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def documented(name):
    tree = ast.parse((LIBRARY / (name + ".py")).read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
            found[node.targets[0].id] = yaml.safe_load(ast.literal_eval(node.value))
    return found


def options(name):
    return documented(name)["DOCUMENTATION"]["options"]


@pytest.mark.parametrize("name", MODULES)
def test_documentation_examples_and_return_parse(name):
    docs = documented(name)
    assert docs["DOCUMENTATION"]["module"] == name
    assert isinstance(docs["DOCUMENTATION"]["options"], dict) and docs["DOCUMENTATION"]["short_description"]
    assert docs["EXAMPLES"] and all(name in task for task in docs["EXAMPLES"]), docs["EXAMPLES"]
    assert isinstance(docs["RETURN"], dict) and all("description" in item for item in docs["RETURN"].values())


def dummy(spec, env_dir, port):
    """A value for a required option: paths under $ALOHA_UNIT_NOWHERE (to see
    the expansion), a closed loopback port, loopback for a host."""
    kind = spec.get("type", "str")
    if kind == "path":
        return "$ALOHA_UNIT_NOWHERE/missing"
    if kind == "int":
        return port
    if kind == "list":
        return ["127.0.0.1"]
    if kind == "dict":
        return {key: dummy(sub, env_dir, port) for key, sub in spec.get("suboptions", {}).items()
                if sub.get("required")}
    if spec.get("choices"):
        return spec["choices"][0]
    return "127.0.0.1"


def expected_value(spec, given, env_dir):
    if spec.get("type") == "path" and isinstance(given, str):
        return given.replace("$ALOHA_UNIT_NOWHERE", str(env_dir))
    if spec.get("type") == "dict" and isinstance(given, dict):
        subs = spec.get("suboptions", {})
        return {key: expected_value(subs[key], value, env_dir) for key, value in given.items()}
    return given


def compare(spec_options, args, module_args, env_dir, where=""):
    """Every documented default, and every given value as converted."""
    for key, spec in spec_options.items():
        value = module_args[key]
        if value == NO_LOG_MASK:
            continue
        if key in args:
            expected = expected_value(spec, args[key], env_dir)
            if spec.get("type") == "dict":
                compare(spec.get("suboptions", {}), args[key], value, env_dir, where + key + ".")
                continue
        elif "default" in spec:
            expected = spec["default"]
        else:
            expected = None
        assert value == expected, "%s%s: module runs with %r, documented %r" % (where, key, value, expected)


@pytest.mark.parametrize("name", MODULES)
def test_documented_defaults_and_required_options_are_the_real_ones(name, run_module, tmp_path,
                                                                    monkeypatch, closed_port):
    env_dir = tmp_path / "nowhere"
    monkeypatch.setenv("ALOHA_UNIT_NOWHERE", str(env_dir))
    spec_options = options(name)
    required = sorted(key for key, spec in spec_options.items() if spec.get("required"))
    runs = [{key: dummy(spec_options[key], env_dir, closed_port) for key in required}]
    if not required:
        # The ansible command needs at least one option: give the first
        # option that has a default, then the last one (so each default is
        # left to the module once).
        keys = [key for key, spec in spec_options.items() if "default" in spec]
        runs = [{key: spec_options[key]["default"]} for key in (keys[0], keys[-1])]
    for args in runs:
        _, result = run_module(name, args, check=True)
        assert "invocation" in result, result
        compare(spec_options, args, result["invocation"]["module_args"], env_dir)
    if required:
        # One optional option given, for the ansible command's sake.
        optional = next((key for key, spec in spec_options.items() if "default" in spec and
                         spec.get("type", "str") in ("str", "int", "bool", "path")), None)
        others = {optional: spec_options[optional]["default"]} if optional else {}
        _, result = run_module(name, others, check=True)
        assert result["failed"] is True
        assert result["msg"] == "missing required arguments: %s" % ", ".join(required)


def _has_optional_conversions(name):
    return any(not spec.get("required") and spec.get("type") in ("path", "int", "bool")
               for key, spec in options(name).items())


# Only modules that have such options: a test with nothing to check would be hollow.
@pytest.mark.parametrize("name", [name for name in MODULES if _has_optional_conversions(name)])
def test_path_int_and_bool_options_convert_as_documented(name, run_module, tmp_path, monkeypatch,
                                                         closed_port):
    env_dir = tmp_path / "nowhere"
    monkeypatch.setenv("ALOHA_UNIT_NOWHERE", str(env_dir))
    spec_options = options(name)
    args = {key: dummy(spec, env_dir, closed_port) for key, spec in spec_options.items() if spec.get("required")}
    expected = {}
    for key, spec in spec_options.items():
        if spec.get("required"):
            continue
        if key == "port":
            # A port is given as text and used as a number (465 means TLS).
            args[key], expected[key] = str(closed_port), closed_port
        elif spec.get("type") == "path":
            args[key], expected[key] = "$ALOHA_UNIT_NOWHERE/given", str(env_dir / "given")
        elif spec.get("type") == "int":
            args[key], expected[key] = str(spec.get("default") or 1), spec.get("default") or 1
        elif spec.get("type") == "bool":
            args[key], expected[key] = "no", False
    assert expected, name
    _, result = run_module(name, args, check=True)
    module_args = result["invocation"]["module_args"]
    assert {key: module_args[key] for key in expected} == expected


@pytest.mark.parametrize("name", [name for name in MODULES
                                  if any(spec.get("choices") for spec in options(name).values())])
def test_documented_choices_are_enforced(name, run_module, tmp_path, monkeypatch, closed_port):
    env_dir = tmp_path / "nowhere"
    monkeypatch.setenv("ALOHA_UNIT_NOWHERE", str(env_dir))
    spec_options = options(name)
    chosen = [key for key, spec in spec_options.items() if spec.get("choices")]
    assert chosen, name
    for key in chosen:
        args = {other: dummy(spec, env_dir, closed_port) for other, spec in spec_options.items()
                if spec.get("required")}
        args[key] = "not-a-choice"
        _, result = run_module(name, args, check=True)
        assert result["failed"] is True
        assert "value of %s must be one of: %s, got: not-a-choice" % (
            key, ", ".join(spec_options[key]["choices"])) in result["msg"]


def _suboptions(name):
    """(option, suboption, its spec) for every suboption of a dict option."""
    return [(key, sub, subspec) for key, spec in options(name).items() if spec.get("type") == "dict"
            for sub, subspec in spec.get("suboptions", {}).items()]


# Only modules whose dict options have required suboptions or choices.
@pytest.mark.parametrize("name", [name for name in MODULES
                                  if any(sub.get("required") or sub.get("choices")
                                         for _, _, sub in _suboptions(name))])
def test_documented_required_suboptions_and_suboption_choices_are_enforced(name, run_module, tmp_path,
                                                                           monkeypatch, closed_port):
    # The role always passes valid ones; a caller that leaves one out or
    # gives another value is told which, before the module reads a file.
    env_dir = tmp_path / "nowhere"
    monkeypatch.setenv("ALOHA_UNIT_NOWHERE", str(env_dir))
    spec_options = options(name)
    for key, sub, subspec in _suboptions(name):
        for case in [c for c in ("required", "choices") if subspec.get(c)]:
            args = {other: dummy(spec, env_dir, closed_port) for other, spec in spec_options.items()
                    if spec.get("required") or other == key}
            if case == "required":
                del args[key][sub]
                expected = "missing required arguments: %s found in %s" % (sub, key)
            else:
                args[key][sub] = "not-a-choice"
                expected = "value of %s must be one of: %s, got: not-a-choice found in %s" % (
                    sub, ", ".join(subspec["choices"]), key)
            _, result = run_module(name, args, check=True)
            assert result["failed"] is True
            assert result["msg"] == expected, (key, sub)
