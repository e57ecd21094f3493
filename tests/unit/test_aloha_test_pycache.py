"""The test hosts' bytecode cache for zipimported code
(tests/fixtures/roles/aloha_test_pycache): each test imports a module from a
zip in a fresh interpreter, the way Ansible runs a module from its AnsiballZ
zip, with the hook loaded and its cache directory pointed at tmp_path."""

import subprocess
import sys
import zipfile
from pathlib import Path

HOOK = Path(__file__).resolve().parents[1] / "fixtures/roles/aloha_test_pycache/files/aloha_test_pycache.py"

# Imports the hook (as its .pth line does: a copy whose CACHE_DIR is the
# test's), then mod from the zip; prints what the module computed, its
# code's file name, and how often the hook compiled source itself.
PROBE = """
import sys
sys.path.insert(0, {hook_dir!r})
import aloha_test_pycache as hook
compiled = []
real = hook._compile_source
hook._compile_source = lambda p, s: compiled.append(p) or real(p, s)
sys.path.insert(0, {zip!r})
import mod
print(mod.value(), mod.value.__code__.co_filename, len(compiled))
"""


def run(tmp_path, zip_path, cache):
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir(exist_ok=True)
    source = HOOK.read_text()
    assert source.count('CACHE_DIR = "/var/cache/aloha-test-pycache"') == 1
    (hook_dir / HOOK.name).write_text(source.replace("/var/cache/aloha-test-pycache", str(cache)))
    probe = PROBE.format(hook_dir=str(hook_dir), zip=str(zip_path))
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    value, filename, compiled = out.split()
    return value, filename, int(compiled)


def make_zip(path, source):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mod.py", source)
    return path


def test_second_import_runs_the_cached_code_under_its_own_file_name(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    first = make_zip(tmp_path / "first.zip", "def value():\n    return 41 + 1\n")
    second = make_zip(tmp_path / "second.zip", "def value():\n    return 41 + 1\n")
    assert run(tmp_path, first, cache) == ("42", str(first / "mod.py"), 1)
    assert len(list(cache.iterdir())) == 1
    # Same source in another zip: no compile, and tracebacks name this zip.
    assert run(tmp_path, second, cache) == ("42", str(second / "mod.py"), 0)


def test_other_source_is_compiled_not_taken_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    run(tmp_path, make_zip(tmp_path / "a.zip", "def value():\n    return 1\n"), cache)
    assert run(tmp_path, make_zip(tmp_path / "b.zip", "def value():\n    return 2\n"), cache)[::2] == ("2", 1)
    assert len(list(cache.iterdir())) == 2


def test_without_the_directory_the_hook_does_nothing(tmp_path):
    cache = tmp_path / "absent"
    zip_path = make_zip(tmp_path / "a.zip", "def value():\n    return 7\n")
    # The real compile runs, but not through the hook (its counter stays 0).
    assert run(tmp_path, zip_path, cache)[::2] == ("7", 0)
    assert not cache.exists()


def test_a_corrupt_entry_is_compiled_again(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    zip_path = make_zip(tmp_path / "a.zip", "def value():\n    return 5\n")
    run(tmp_path, zip_path, cache)
    (entry,) = cache.iterdir()
    entry.write_bytes(b"\x00not marshal")
    assert run(tmp_path, zip_path, cache)[::2] == ("5", 1)
