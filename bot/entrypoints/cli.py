"""The `hipcoach` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hipcoach import content

if TYPE_CHECKING:
    from hipcoach.bot.bootstrap import Settings

# The shell (SQLAlchemy, Telegram, Alembic, matplotlib) is imported only by the commands that need
# it, so `hipcoach feedback` and `hipcoach content check` start in a fraction of a second.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hipcoach", description="Hip Coach: hips, not the lower back.")
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser(
        "run",
        help="serve Telegram if TELEGRAM_BOT_TOKEN is set, else open the terminal chat "
        "(only when standard input is a terminal: otherwise it fails)",
    )
    run.add_argument("--db", help="database URL (default: HIPCOACH_DATABASE_URL or a SQLite file)")
    run.add_argument(
        "--webhook-url",
        help="serve a webhook at this public URL instead of long polling (default: HIPCOACH_WEBHOOK_URL); "
        "the secret comes from HIPCOACH_WEBHOOK_SECRET, or a random one",
    )
    run.add_argument(
        "--webhook-listen",
        help="address the webhook server binds (default: HIPCOACH_WEBHOOK_LISTEN or 127.0.0.1)",
    )
    run.add_argument(
        "--webhook-port",
        type=int,
        help="port the webhook server binds (default: HIPCOACH_WEBHOOK_PORT or 8443)",
    )

    chat = commands.add_parser("chat", help="chat with the coach in this terminal")
    chat.add_argument(
        "--user", type=int, default=1, help="the user id to chat as (a number, like Telegram's)"
    )
    chat.add_argument("--db", help="database URL (default: HIPCOACH_DATABASE_URL or a SQLite file)")
    chat.add_argument("--json", action="store_true", help="one JSON array of messages per input line")
    chat.add_argument(
        "--now",
        help="rehearse as if it were this ISO date-time (the user's time zone applies when none is given); "
        "prompts due by then are delivered first",
    )

    feedback = commands.add_parser(
        "feedback", help="show how a check-in sentence is read, as JSON ('-': one text a line from stdin)"
    )
    feedback.add_argument("text", nargs="+")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    for name, text in (
        ("upgrade", "apply every migration"),
        ("current", "show the applied revision"),
    ):
        sub = db_commands.add_parser(name, help=text)
        sub.add_argument("--db", help="database URL")

    flows_parser = commands.add_parser("flows", help="the dialogue state machines")
    flows_commands = flows_parser.add_subparsers(dest="flows_command", required=True)
    draw = flows_commands.add_parser("draw", help="write Mermaid diagrams of every state machine into docs/")
    draw.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: here)")

    content_parser = commands.add_parser("content", help="coaching content")
    content_commands = content_parser.add_subparsers(dest="content_command", required=True)
    check = content_commands.add_parser("check", help="validate a content directory")
    check.add_argument("directory", nargs="?", type=Path, default=None)
    drawing = content_commands.add_parser(
        "draw", help="write every exercise's animation (GIF) and a page to review them side by side"
    )
    drawing.add_argument("directory", nargs="?", type=Path, default=None, help="default: docs/exercises")
    return parser


def main(argv: Sequence[str] | None = None, is_terminal: Callable[[], bool] | None = None) -> int:
    """Run one command; `is_terminal` (default: is standard input a terminal?) is injectable for tests."""
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "content" and args.content_command == "draw":
        return draw_content(args.directory)
    if command == "content":
        return check_content(args.directory)
    if command == "flows":
        from hipcoach.bot.entrypoints.cli_flows import draw as draw_flows

        for path in draw_flows(args.root):
            print(path)
        return 0
    if command == "feedback":
        return show_feedback(" ".join(args.text))
    from hipcoach.bot import bootstrap

    try:
        settings = bootstrap.load_settings(
            database_url=getattr(args, "db", None),
            webhook_url=getattr(args, "webhook_url", None),
            webhook_listen=getattr(args, "webhook_listen", None),
            webhook_port=getattr(args, "webhook_port", None),
        )
    except bootstrap.ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if command == "run" and (refusal := why_not_serve(settings, is_terminal or stdin_is_terminal)):
        print(refusal, file=sys.stderr)
        return 2
    bootstrap.configure_logging(settings)
    try:
        if command == "db":
            return asyncio.run(db_command(args.db_command, settings))
        if command == "chat":
            return asyncio.run(chat(settings, args.user, args.json, args.now))
        return asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 130
    except content.ContentError as error:
        print(error, file=sys.stderr)
        return 1


def _load_content(directory: Path | None = None) -> content.Content:
    from hipcoach import flows

    return content.load(directory, required_messages=flows.MESSAGE_PARAMS)


def check_content(directory: Path | None) -> int:
    try:
        _load_content(directory)
    except content.ContentError as error:
        for problem in error.problems:
            print(problem)
        return 1
    print(f"content OK: {directory or content.DEFAULT_DIR}")
    return 0


def draw_content(directory: Path | None) -> int:
    from hipcoach.bot.files.exercise_docs import DEFAULT_DIR, draw

    for path in draw(_load_content(), directory or DEFAULT_DIR):
        print(path)
    return 0


def show_feedback(text: str) -> int:
    """One JSON reading (safety tier and signs, then the check-in fields) per text; '-' reads stdin."""
    from hipcoach.flows.feedback import read_feedback
    from hipcoach.flows.safety import screen

    content = _load_content()
    texts = (line.rstrip("\n") for line in sys.stdin) if text == "-" else iter([text])
    for line in texts:
        safety = screen(line, content.safety)
        reading = {**read_feedback(line, content.feedback).to_json(), **safety.to_json()}
        reading["red_flag"] = safety.tier == "urgent"
        print(json.dumps(reading), flush=True)
    return 0


async def db_command(name: str, settings: Settings) -> int:
    from hipcoach.bot import bootstrap
    from hipcoach.bot.storage.db import current_revision, head_revision, make_engine, upgrade

    bootstrap.ensure_sqlite_directory(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        if name == "upgrade":
            await upgrade(engine)
        print(f"revision {await current_revision(engine)} (newest: {head_revision()})")
    finally:
        await engine.dispose()
    return 0


async def chat(settings: Settings, user_id: int, json_mode: bool, now: str | None = None) -> int:
    from hipcoach.bot import bootstrap

    built = await bootstrap.build_chat(settings, user_id, json_mode, sys.stdin, sys.stdout, now)
    try:
        await built.terminal.run(settings.database_url, announce_due=now is not None)
    finally:
        await built.database.close()
    return 0


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def why_not_serve(settings: Settings, is_terminal: Callable[[], bool]) -> str | None:
    """Why `hipcoach run` must stop before touching anything, if it must.

    Without a token it opens the terminal chat, which is for a person at a terminal: in a container
    it would read the end of input, exit 0 and be restarted, writing a user at each start.
    """
    if settings.telegram_token:
        return None
    if settings.webhook_url:
        return "a webhook needs TELEGRAM_BOT_TOKEN"
    if not is_terminal():
        return (
            "TELEGRAM_BOT_TOKEN is not set and standard input is not a terminal: "
            "set the token to serve Telegram, or run `hipcoach chat` to chat here"
        )
    return None


async def serve(settings: Settings) -> int:
    """Telegram if there is a token, else the terminal chat (why_not_serve has said it may run)."""
    if settings.telegram_token:
        from hipcoach.bot.telegram.app import serve_telegram

        return await serve_telegram(settings)
    return await chat(settings, user_id=1, json_mode=False)


if __name__ == "__main__":
    raise SystemExit(main())
