"""Fixtures the default scenario's test files share."""

import json

import pytest

from alohatest import smtp_host, write_file

CONFIG = "/etc/aloha-test-smtp/config.json"


@pytest.fixture
def no_tokenized_senders():
    """The SMTP server refuses noreply-<token>@ senders while the test runs."""
    smtp = smtp_host()
    original = smtp.file(CONFIG).content_string
    config = json.loads(original)
    config["allowed_senders"] = [s for s in config["allowed_senders"] if "noreply-" not in s]
    write_file(smtp, CONFIG, json.dumps(config))
    yield
    write_file(smtp, CONFIG, original)
