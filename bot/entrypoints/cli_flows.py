"""`hipcoach flows draw`: write the Mermaid diagrams of the dialogue machine into docs/flows/."""

from __future__ import annotations

from pathlib import Path

from hipcoach.flows.diagrams import mermaid_diagrams


def draw(root: Path) -> list[Path]:
    """Write every flow diagram under the repository `root`; return the paths written."""
    written = []
    for relative, text in mermaid_diagrams().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
