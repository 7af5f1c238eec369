"""Shared fixtures: the shipped content, a fixed clock, and a chat helper over the pure engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hipcoach.bot.bootstrap import load_content
from hipcoach.content.schema import Content

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def content() -> Content:
    return load_content()


@pytest.fixture
def now() -> datetime:
    return NOW
