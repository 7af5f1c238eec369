"""docs/exercises: the committed review page and GIFs are what the content draws today."""

from pathlib import Path

from hipcoach.bot.entrypoints.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "exercises"


def test_the_committed_review_page_and_animations_match_the_content(tmp_path, capsys):
    assert main(["content", "draw", str(tmp_path)]) == 0
    drawn = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    committed = {path.name: path.read_bytes() for path in DOCS.iterdir()}
    stale = sorted(name for name in drawn.keys() | committed.keys() if drawn.get(name) != committed.get(name))
    assert stale == [], "run `hipcoach content draw` and commit docs/exercises"


def test_the_review_page_shows_every_exercise_with_its_cue(tmp_path, capsys):
    main(["content", "draw", str(tmp_path)])
    page = (tmp_path / "index.html").read_text()
    assert page.count("<figure>") == len([p for p in tmp_path.iterdir() if p.suffix == ".gif"]) == 19
    assert 'src="romanian_deadlift.gif"' in page and "Tempo: 3-1-2" in page


def test_the_review_files_stay_small():
    assert sum(path.stat().st_size for path in DOCS.iterdir()) < 2_000_000
