"""The terminal chat cannot play an animation: it writes the GIF and says where."""

import re
from pathlib import Path

import pytest

from tests.e2e.test_terminal_chat import SCREENING, chat, texts

pytestmark = pytest.mark.e2e


def test_showing_an_exercise_writes_its_gif_and_shows_the_path(tmp_path):
    outputs = chat(tmp_path, [*SCREENING, "yes", "yeah", "no", "nothing", "Skip this", "/show glute_bridge"])
    shown = texts(outputs[-1])
    assert "Glute bridge" in shown
    (path,) = re.findall(r"\(saved to (.+\.gif)\)", shown)
    assert Path(path).read_bytes().startswith(b"GIF89a")
    assert Path(path).is_relative_to(tmp_path)
