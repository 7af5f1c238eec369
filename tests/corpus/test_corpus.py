"""The safety screen and the check-in reader, measured on the labelled corpus (tests/corpus/README.md)."""

import pytest

from tests.corpus.score import score

TARGETS = {"urgent_recall": 1.0, "checkin_fields": 0.97, "whole_replies": 0.90}


@pytest.fixture(scope="module")
def figures(content):
    return score(content)


def test_the_corpus_is_big_enough_to_mean_something(figures):
    assert figures.messages >= 600 and figures.urgent >= 180 and figures.near_misses >= 250


@pytest.mark.parametrize("share", sorted(TARGETS))
def test_the_corpus_figures_meet_their_targets(figures, share):
    assert figures.shares()[share] >= TARGETS[share], figures.misses[:20]


def test_near_misses_are_almost_never_read_as_urgent(figures):
    assert figures.shares()["false_urgent_on_near_misses"] <= 0.01
