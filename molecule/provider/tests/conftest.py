"""Fixtures the provider scenario's test files share."""

import pytest

from alohatest import clear_provider_messages


@pytest.fixture
def no_mail():
    """The provider's maildirs empty at the start of the test."""
    clear_provider_messages()
