"""The safety screen and the check-in reader, measured on the labelled corpus (tests/corpus/README.md)."""

import pytest

from tests.corpus.score import FOURTH_SET, SECOND_SET, THIRD_SET, score

TARGETS = {"urgent_recall": 1.0, "checkin_fields": 0.97, "whole_replies": 0.90}
# The second set came after the vocabulary; it keeps the reader honest about wordings it was not
# built from (its first, untuned reading is in docs/understanding.md).
SECOND_SET_TARGETS = {"urgent_recall": 0.98, "checkin_fields": 0.97, "whole_replies": 0.90}


@pytest.fixture(scope="module")
def figures(content):
    return score(content)


@pytest.fixture(scope="module", params=[SECOND_SET, THIRD_SET], ids=["second set", "third set"])
def second_figures(content, request):
    return score(content, request.param)


def test_the_corpus_is_big_enough_to_mean_something(figures):
    assert figures.messages >= 600 and figures.urgent >= 180 and figures.near_misses >= 250


@pytest.mark.parametrize("share", sorted(TARGETS))
def test_the_corpus_figures_meet_their_targets(figures, share):
    assert figures.shares()[share] >= TARGETS[share], figures.misses[:20]


def test_near_misses_are_almost_never_read_as_urgent(figures):
    assert figures.shares()["false_urgent_on_near_misses"] <= 0.01


@pytest.mark.parametrize("share", sorted(SECOND_SET_TARGETS))
def test_the_later_sets_by_other_authors_meet_their_targets_too(second_figures, share):
    assert second_figures.shares()[share] >= SECOND_SET_TARGETS[share], second_figures.misses[:20]


def test_near_misses_of_the_later_sets_are_almost_never_read_as_urgent(second_figures):
    assert second_figures.shares()["false_urgent_on_near_misses"] <= 0.01


def test_the_fourth_set_of_indirect_and_terse_wordings_stays_where_it_was_brought(content):
    """Its misses are mostly a parent describing an adult child's signs, which the screen reads as
    someone else's; the floor keeps what the set taught."""
    figures = score(content, FOURTH_SET)
    assert figures.shares()["urgent_recall"] >= 0.90, figures.misses[:20]
    assert figures.shares()["false_urgent_on_near_misses"] <= 0.01
