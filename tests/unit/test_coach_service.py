from hipcoach.flows import Choice, Text
from hipcoach.flows.values import RecordConsent
from tests.conftest import NOW
from tests.fakes import FakeStorage


def make_coach(content):
    from hipcoach.bot.coach import Coach

    return Coach(FakeStorage(), content, clock=lambda: NOW)


async def test_a_turn_stores_the_new_state_and_its_effects(content):
    coach = make_coach(content)
    await coach.handle(7, Text("hi"))
    await coach.handle(7, Choice("consent:yes"))
    assert coach.storage.states[7].name == "red_flags_urgent"
    assert coach.storage.effects[7] == [RecordConsent(True)]


async def test_a_failing_turn_apologises_and_leaves_the_stored_state_as_it_was(content, caplog):
    coach = make_coach(content)
    await coach.handle(7, Text("hi"))
    before = coach.storage.states[7]
    coach.storage.fail_next = ConnectionError("database is down")

    messages = await coach.handle(7, Text("my back hurts at 7/10"), ref="update-42")

    assert [m.text for m in messages] == [content.message("error_sorry")]
    assert coach.storage.states[7] == before
    assert "update-42" in caplog.text
    assert "ConnectionError" in caplog.text
    assert "7/10" not in caplog.text
    assert "database is down" not in caplog.text


async def test_declining_consent_leaves_nothing_stored(content):
    coach = make_coach(content)
    await coach.handle(9, Text("hi"))
    await coach.handle(9, Choice("consent:no"))
    assert 9 not in coach.storage.states
    assert 9 not in coach.storage.effects


async def test_users_are_kept_apart(content):
    coach = make_coach(content)
    await coach.handle(1, Text("hi"))
    await coach.handle(2, Text("hi"))
    await coach.handle(1, Choice("consent:yes"))
    assert coach.storage.states[1].name == "red_flags_urgent"
    assert coach.storage.states[2].name == "consent"
