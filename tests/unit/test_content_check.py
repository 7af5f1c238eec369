import shutil
from pathlib import Path

import pytest
import yaml

from hipcoach.bot.entrypoints.cli import main
from hipcoach.content import DEFAULT_DIR


@pytest.fixture
def broken(tmp_path):
    """A copy of the shipped content that a test may break, file by file."""
    root = tmp_path / "content"
    shutil.copytree(DEFAULT_DIR, root)

    def edit(name: str, change) -> Path:
        path = root / name
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return root

    return edit


def exercise(data, exercise_id):
    return next(e for e in data["exercises"] if e["id"] == exercise_id)


def check(root, capsys) -> tuple[int, list[str]]:
    code = main(["content", "check", str(root)])
    return code, capsys.readouterr().out.splitlines()


def test_the_shipped_content_passes_the_check(capsys):
    code, out = check(DEFAULT_DIR, capsys)
    assert code == 0
    assert out[0].startswith("content OK")


def test_an_unknown_exercise_in_a_ladder_is_named_with_file_and_field(broken, capsys):
    root = broken("ladders.yaml", lambda d: d["ladders"][0]["rungs"].append("moonwalk"))
    assert check(root, capsys) == (1, ["ladders.yaml: ladders.hinge.rungs.8: unknown exercise id 'moonwalk'"])


def test_a_duplicate_exercise_id_is_reported(broken, capsys):
    root = broken("exercises.yaml", lambda d: d["exercises"].append(dict(d["exercises"][0])))
    assert check(root, capsys) == (
        1,
        ["exercises.yaml: exercises.four_point_rock_back: duplicate id 'four_point_rock_back'"],
    )


def test_a_message_key_a_flow_uses_must_exist(broken, capsys):
    root = broken("messages/en.yaml", lambda d: d.pop("consent_question"))
    assert check(root, capsys) == (1, ["messages/en.yaml: consent_question: missing message used by a flow"])


def test_a_placeholder_the_flow_does_not_fill_is_reported(broken, capsys):
    root = broken("messages/en.yaml", lambda d: d.update(equipment_noted="Noted: {itmes}."))
    assert check(root, capsys) == (1, ["messages/en.yaml: equipment_noted: unknown placeholder {itmes}"])


def test_a_dose_needs_reps_or_seconds(broken, capsys):
    def no_reps(d):
        dose = exercise(d, "glute_bridge")["dose"]
        dose.pop("reps", None)
        dose.pop("seconds", None)

    root = broken("exercises.yaml", no_reps)
    assert check(root, capsys) == (
        1,
        ["exercises.yaml: exercises.glute_bridge.dose: a dose needs reps or seconds"],
    )


def test_easier_and_harder_links_must_not_form_a_cycle(broken, capsys):
    root = broken(
        "exercises.yaml", lambda d: exercise(d, "four_point_rock_back").update(easier="glute_bridge")
    )
    code, out = check(root, capsys)
    assert code == 1
    assert out == [
        "exercises.yaml: exercises.four_point_rock_back.easier: easier links form a cycle: "
        "four_point_rock_back -> glute_bridge -> kneeling_hip_thrust -> four_point_rock_back",
        "exercises.yaml: exercises.four_point_rock_back.easier: is 'glute_bridge', but on ladder 'hinge' it "
        "is none",
    ]


def test_a_ladder_out_of_difficulty_order_is_reported(broken, capsys):
    def swap(d):
        rungs = next(ladder for ladder in d["ladders"] if ladder["id"] == "core")["rungs"]
        rungs[0], rungs[1] = rungs[1], rungs[0]

    code, out = check(broken("ladders.yaml", swap), capsys)
    assert code == 1
    assert (
        "ladders.yaml: ladders.core.rungs.1: 'cat_camel' (difficulty 1) is not harder than "
        "'dowel_hip_hinge' (difficulty 2) before it" in out
    )
    assert (
        "exercises.yaml: exercises.cat_camel.easier: is none, but on ladder 'core' it is "
        "'dowel_hip_hinge'" in out
    )


def test_an_exercise_needs_a_difficulty(broken, capsys):
    root = broken("exercises.yaml", lambda d: exercise(d, "plank").pop("difficulty"))
    assert check(root, capsys) == (1, ["exercises.yaml: exercises.plank.difficulty: Field required"])


def test_a_rung_needing_equipment_outside_the_equipment_list_is_reported(broken, capsys):
    root = broken("exercises.yaml", lambda d: exercise(d, "kettlebell_swing").update(equipment=["sandbag"]))
    assert check(root, capsys) == (
        1,
        [
            "exercises.yaml: exercises.kettlebell_swing.equipment.0: "
            "equipment 'sandbag' is not in the equipment list of screening.yaml"
        ],
    )


def test_an_unknown_field_is_a_typo_not_silence(broken, capsys):
    root = broken("exercises.yaml", lambda d: exercise(d, "plank").update(cue=["x"]))
    assert check(root, capsys) == (1, ["exercises.yaml: exercises.plank.cue: Extra inputs are not permitted"])


def test_the_starting_table_must_cover_every_profile(broken, capsys):
    root = broken("starting_point.yaml", lambda d: d["table"].pop())
    assert check(root, capsys) == (
        1,
        ["starting_point.yaml: table: no row for load_pain=False, can_kneel=False"],
    )


def test_a_start_that_needs_kneeling_for_someone_who_cannot_kneel_is_refused(broken, capsys):
    root = broken("starting_point.yaml", lambda d: d["table"][1].update(start="four_point_rock_back"))
    assert check(root, capsys) == (
        1,
        ["starting_point.yaml: table.1.start: 'four_point_rock_back' needs kneeling but can_kneel is false"],
    )


def test_every_problem_is_reported_not_only_the_first(broken, capsys):
    broken("ladders.yaml", lambda d: d["ladders"][0]["rungs"].append("moonwalk"))
    root = broken("messages/en.yaml", lambda d: d.pop("help"))
    code, out = check(root, capsys)
    assert code == 1
    assert len(out) == 2


def test_invalid_yaml_names_the_file(tmp_path, capsys):
    root = tmp_path / "content"
    shutil.copytree(DEFAULT_DIR, root)
    (root / "ladders.yaml").write_text("ladders: [unclosed\n")
    code, out = check(root, capsys)
    assert code == 1
    assert out[0].startswith("ladders.yaml: (file): not valid YAML:")
