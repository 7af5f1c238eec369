"""Pain-education notes: one at a time, each once, after its counted session, in gentle words."""

from __future__ import annotations

import shutil

import pytest
import yaml

from hipcoach.bot.entrypoints.cli import main
from hipcoach.content import DEFAULT_DIR
from hipcoach.content.education_schema import education_problems, frightening
from hipcoach.flows.education import due_note, note_after


def test_no_note_is_due_before_the_first_counted_session(content):
    assert note_after(0, [], content) is None


def test_the_first_note_comes_after_the_first_counted_session(content):
    first = content.education.notes[0]
    reply = note_after(first.after_session, [], content)
    assert reply is not None
    assert reply.key == "education_note"
    assert reply.params == {"note": first.id, "title": first.title, "text": first.text}


def test_a_note_already_given_is_not_given_again(content):
    first = content.education.notes[0]
    assert note_after(first.after_session, [first.id], content) is None


def test_a_note_is_not_given_before_its_session(content):
    second = content.education.notes[1]
    given = [content.education.notes[0].id]
    assert note_after(second.after_session - 1, given, content) is None
    assert note_after(second.after_session, given, content).params["note"] == second.id


def test_someone_who_was_away_gets_the_earliest_note_due_not_a_pile(content):
    last = content.education.notes[-1]
    assert due_note(last.after_session, [], content) == content.education.notes[0]


def test_a_long_run_of_sessions_gives_every_note_once_in_order(content):
    given: list[str] = []
    for session in range(1, content.education.notes[-1].after_session + 5):
        reply = note_after(session, given, content)
        if reply is not None:
            given.append(reply.params["note"])
    assert given == [note.id for note in content.education.notes]


def test_the_note_message_shows_its_title_and_text(content):
    reply = note_after(content.education.notes[0].after_session, [], content)
    shown = content.text(reply.key, **reply.params)
    assert reply.params["title"] in shown and reply.params["text"] in shown


def test_six_to_eight_notes_cover_the_topics_of_pain_education(content):
    ids = [note.id for note in content.education.notes]
    assert 6 <= len(ids) <= 8
    assert {"hurt_is_not_harm", "stay_active", "pacing", "flare_up_plan", "scans_rarely_needed"} <= set(ids)


def test_the_shipped_notes_use_no_frightening_word(content):
    words = content.education.frightening_words
    assert {"degeneration", "slipped disc", "crumbling"} <= set(words)
    for note in content.education.notes:
        assert frightening(f"{note.title} {note.text}", words) == [], note.id
    assert education_problems(content.education) == []


def test_frightening_words_are_found_in_any_case_and_spacing_but_only_as_whole_words():
    words = ["slipped disc", "damage"]
    assert frightening("Not a Slipped\n disc at all", words) == ["slipped disc"]
    assert frightening("nothing is damaged", words) == []


@pytest.fixture
def education_copy(tmp_path):
    """A copy of the shipped content whose education.yaml a test may change."""
    root = tmp_path / "content"
    shutil.copytree(DEFAULT_DIR, root)

    def edit(change):
        path = root / "education.yaml"
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return root

    return edit


def check(root, capsys) -> tuple[int, list[str]]:
    code = main(["content", "check", str(root)])
    return code, capsys.readouterr().out.splitlines()


def test_a_note_with_a_frightening_word_fails_the_check_with_file_field_and_reason(education_copy, capsys):
    root = education_copy(lambda d: d["notes"][2].update(text="Scans may show Degeneration."))
    assert check(root, capsys) == (
        1,
        ["education.yaml: notes.2.text: uses the frightening word 'degeneration'"],
    )


def test_notes_out_of_session_order_or_with_a_repeated_id_fail_the_check(education_copy, capsys):
    def spoil(d):
        d["notes"][1].update(after_session=d["notes"][0]["after_session"], id=d["notes"][0]["id"])

    code, out = check(education_copy(spoil), capsys)
    assert code == 1
    assert out == [
        "education.yaml: notes.1.id: duplicate id 'hurt_is_not_harm'",
        "education.yaml: notes.1.after_session: after_session 1 must be later than the note before (1)",
    ]


def test_a_note_without_text_fails_the_check(education_copy, capsys):
    root = education_copy(lambda d: d["notes"][0].pop("text"))
    assert check(root, capsys) == (1, ["education.yaml: notes.0.text: Field required"])
