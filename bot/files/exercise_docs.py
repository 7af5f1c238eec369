"""`hipcoach content draw`: every exercise's animation as a GIF, and one page to review them side by side."""

from __future__ import annotations

import html
from pathlib import Path

from hipcoach.bot.files.animation_files import AnimationCache
from hipcoach.content.figure import phases
from hipcoach.content.schema import Content

DEFAULT_DIR = Path("docs") / "exercises"
STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "section{display:flex;flex-wrap:wrap;gap:1.5em}"
    "figure{margin:0;max-width:480px}figcaption{font-size:.9em;line-height:1.4}"
)


def draw(content: Content, directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write `<exercise id>.gif` for every exercise and `index.html`; drop GIFs of exercises gone."""
    directory.mkdir(parents=True, exist_ok=True)
    cache = AnimationCache()
    written = []
    for exercise_id in content.exercises:
        path = directory / f"{exercise_id}.gif"
        path.write_bytes(cache.file(exercise_id, content, "gif").data)
        written.append(path)
    for stale in sorted(set(directory.glob("*.gif")) - set(written)):
        stale.unlink()
    index = directory / "index.html"
    index.write_text(page(content), encoding="utf-8")
    return [*written, index]


def page(content: Content) -> str:
    """The review page: each ladder's exercises in order, each with its animation, cue and timing."""
    say = content.message
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(say('review_title'))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(say('review_title'))}</h1><p>{html.escape(say('review_intro'))}</p>",
    ]
    for ladder in content.ladders.values():
        parts.append(f"<h2>{html.escape(ladder.name)}</h2><section>")
        for exercise_id in ladder.rungs:
            parts.append(_figure(content, exercise_id))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _figure(content: Content, exercise_id: str) -> str:
    exercise, entry = content.exercises[exercise_id], content.keyframes.exercises[exercise_id]
    down, hold, up = phases(exercise.dose.tempo, content.keyframes)
    caption = content.message("review_caption").format(
        name=exercise.name,
        cue=exercise.cues[entry.cue],
        tempo=exercise.dose.tempo,
        seconds=f"{down:g} / {hold:g} / {up:g}",
        views=", ".join(entry.views),
    )
    image = f'<img src="{exercise_id}.gif" alt="{html.escape(exercise.name)}">'
    return f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"
