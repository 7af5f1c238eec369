"""Score the safety screen and the check-in reader on the labelled corpus; `python -m tests.corpus.score`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from hipcoach.content.schema import Content
from hipcoach.flows.feedback import read_feedback
from hipcoach.flows.safety import screen

CORPUS = Path(__file__).with_name("messages.yaml")
SECOND_SET = Path(__file__).with_name("second_set.yaml")  # written later, by another author
THIRD_SET = Path(__file__).with_name("third_set.yaml")  # and a third, in other voices
FOURTH_SET = Path(__file__).with_name("fourth_set.yaml")  # and a fourth: indirect, terse, emoji
FIELDS = ("pain", "effort", "control", "location")


@dataclass
class Figures:
    messages: int = 0
    urgent: int = 0
    urgent_caught: int = 0
    near_misses: int = 0
    false_urgent: int = 0
    tier_right: int = 0
    checkins: int = 0
    fields_right: int = 0
    whole_right: int = 0
    misses: list[str] = field(default_factory=list)

    def shares(self) -> dict[str, float]:
        return {
            "urgent_recall": self.urgent_caught / self.urgent,
            "false_urgent_on_near_misses": self.false_urgent / self.near_misses,
            "tier_accuracy": self.tier_right / self.messages,
            "checkin_fields": self.fields_right / (4 * self.checkins),
            "whole_replies": self.whole_right / self.messages,
        }


def score(content: Content, corpus: Path = CORPUS) -> Figures:
    figures = Figures()
    for entry in yaml.safe_load(corpus.read_text(encoding="utf-8")):
        figures.messages += 1
        right = _safety_right(entry, content, figures)
        if entry["section"] == "checkin":
            reading = read_feedback(entry["text"], content.feedback).to_json()
            fields = [reading[name] == entry[name] for name in FIELDS]
            figures.checkins += 1
            figures.fields_right += sum(fields)
            right = right and all(fields)
        figures.whole_right += right
        if not right:
            figures.misses.append(entry["text"])
    return figures


def _safety_right(entry: dict, content: Content, figures: Figures) -> bool:
    reading = screen(entry["text"], content.safety)
    wanted = None if entry["tier"] == "none" else entry["tier"]
    if wanted == "urgent":
        figures.urgent += 1
        figures.urgent_caught += reading.tier == "urgent"
    if entry["section"] == "near_miss":
        figures.near_misses += 1
        figures.false_urgent += reading.tier == "urgent"
    right = reading.tier == wanted
    if right and wanted in ("urgent", "clinician"):
        right = bool(set(reading.signs) & set(entry["signs"]))
    figures.tier_right += right
    return right


if __name__ == "__main__":
    from hipcoach.bot.bootstrap import load_content

    content = load_content()
    for corpus in (CORPUS, SECOND_SET, THIRD_SET, FOURTH_SET):
        result = score(content, corpus)
        counts = {k: v for k, v in asdict(result).items() if k != "misses"}
        shares = {k: round(v, 4) for k, v in result.shares().items()}
        print(json.dumps({"corpus": corpus.name, **counts, **shares}))
