"""Exercise animations over the Bot API: sent with sendAnimation, uploaded once, then sent by file id."""

import pytest
from sqlalchemy import select

from hipcoach.bot.storage.models import AnimationFile
from tests.telegram.fake_bot_api import Upload
from tests.telegram.offline_chat import USER_ID
from tests.telegram.script import onboarding

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_an_animation_is_uploaded_once_and_sent_by_its_file_id_afterwards(offline_bot):
    bot = offline_bot
    await bot.chat.play(onboarding())
    onboarded = len(bot.api.of("sendAnimation"))  # the first card came with its own animation
    await bot.chat.send("/exercises")
    await bot.chat.press("show:romanian_deadlift")
    (first,) = bot.api.of("sendAnimation")[onboarded:]
    upload = first.params["animation"]
    assert first.params["chat_id"] == USER_ID
    assert isinstance(upload, Upload) and upload.filename.endswith(".mp4") and b"ftyp" in upload.data[:16]
    assert any("Romanian deadlift" in m.text for m in bot.chat.seen)

    await bot.chat.send("/exercises")
    await bot.chat.press("show:romanian_deadlift")
    second = bot.api.of("sendAnimation")[-1]
    assert second.params["animation"] == f"anim-{len(upload.data)}-{upload.filename}"

    async with bot.storage.sessions() as session:
        kept = (await session.scalars(select(AnimationFile))).all()
    kept_here = [(row.name, row.file_id) for row in kept if row.name == upload.filename]
    assert kept_here == [(upload.filename, second.params["animation"])]


async def test_a_file_id_telegram_no_longer_knows_is_replaced_by_a_fresh_upload(offline_bot):
    bot = offline_bot
    await bot.chat.play(onboarding())
    onboarded = len(bot.api.of("sendAnimation"))
    await bot.chat.send("/exercises")
    listing = bot.chat.seen[-2]
    await bot.chat.press("show:glute_bridge", on=listing)
    bot.api.fail_next("sendAnimation", 400, "Bad Request: wrong file identifier/HTTP URL specified")
    await bot.chat.press("show:glute_bridge", on=listing)
    calls = bot.api.of("sendAnimation")[onboarded:]
    assert [type(c.params["animation"]).__name__ for c in calls] == ["Upload", "str", "Upload"]
