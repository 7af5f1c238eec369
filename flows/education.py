"""Pain education: which short note (content/data/education.yaml) is due after a counted session.

Notes come one at a time, each once, in the order of the sessions they follow. A user who was away
while several came due gets the earliest one now and the next after a later session, never a pile.
"""

from __future__ import annotations

from collections.abc import Collection

from hipcoach.content.education_schema import EducationNote
from hipcoach.content.schema import Content
from hipcoach.flows.values import Reply


def due_note(sessions_counted: int, given: Collection[str], content: Content) -> EducationNote | None:
    """The earliest note due by this many counted sessions and not given yet, or None."""
    for note in content.education.notes:
        if note.after_session <= sessions_counted and note.id not in given:
            return note
    return None


def note_after(sessions_counted: int, given: list[str], content: Content) -> Reply | None:
    """The next note due and not yet given, as a reply; its `note` parameter is the id to record."""
    note = due_note(sessions_counted, given, content)
    if note is None:
        return None
    return Reply("education_note", {"note": note.id, "title": note.title, "text": note.text})
