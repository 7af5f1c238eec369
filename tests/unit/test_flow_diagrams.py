"""The committed flow diagrams are the ones the code draws, and they show every state."""

from pathlib import Path

from hipcoach.bot.entrypoints.cli_flows import draw
from hipcoach.flows.diagrams import mermaid_diagrams
from hipcoach.flows.machine import STATES

ROOT = Path(__file__).resolve().parents[2]


def test_committed_flow_diagrams_match_the_machine():
    for relative, text in mermaid_diagrams().items():
        path = ROOT / relative
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        assert committed == text, f"{relative} is out of date: run `hipcoach flows draw`"


def test_every_state_appears_in_a_diagram():
    drawn = "\n".join(mermaid_diagrams().values())
    missing = [state for state in STATES if f'state "{state}" as {state}\n' not in drawn]
    assert not missing, f"states missing from the diagrams: {missing}"


def test_diagrams_are_mermaid_blocks_with_a_heading():
    for text in mermaid_diagrams().values():
        assert text.startswith("# ")
        assert "```mermaid\n" in text
        assert "stateDiagram-v2" in text


def test_drawing_twice_gives_the_same_text():
    assert mermaid_diagrams() == mermaid_diagrams()


def test_draw_writes_every_diagram_under_the_root(tmp_path):
    written = draw(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(mermaid_diagrams())
    assert all(p.read_text(encoding="utf-8") for p in written)
