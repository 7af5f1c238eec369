"""The terminal chat: the same coach as Telegram, on standard input and output."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import TextIO

from hipcoach.bot.coach import Coach
from hipcoach.bot.delivery.dispatcher import Dispatcher
from hipcoach.bot.files.private_files import private_folder, write_private
from hipcoach.bot.storage.outbox import Progress, Untracked
from hipcoach.bot.storage.port import Storage
from hipcoach.bot.text_input import parse_input
from hipcoach.flows import Command, Event, Message, State
from hipcoach.flows.render import plain
from hipcoach.flows.values import File


def numbered(messages: list[Message]) -> list[tuple[str, str]]:
    """The buttons a number can press: all but those labelled with a number (a 0-10 scale is typed)."""
    return [b for m in messages for row in m.buttons for b in row if not b[0].isdigit()]


def format_human(message: Message, first_number: int = 1) -> str:
    lines = [message.text]
    number = first_number
    for row in message.buttons:
        cells = []
        for label, _ in row:
            if label.isdigit():
                cells.append(f"[{label}]")
                continue
            cells.append(f"[{number}] {label}")
            number += 1
        lines.append("   " + "   ".join(cells))
    return "\n".join(lines)


class SavedFiles:
    """The files the terminal saves because it cannot show them (exports, charts, animations).

    One folder, 0700; each file 0600 and named for its user ('hipcoach-5-progress.png'), so that
    users sharing the folder never overwrite each other's and /delete can remove all of one user's.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.removed: list[Path] = []  # removed by the last /delete, not yet reported

    def save(self, user_id: int, file: File) -> Path:
        mine = self._is_users(file.name, user_id)
        path = private_folder(self.folder) / (file.name if mine else f"hipcoach-{user_id}-{file.name}")
        write_private(path, file.data)
        return path

    def forget(self, user_id: int) -> None:
        """Remove every file saved for the user (the coach calls this when the user is forgotten)."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.iterdir()):
            if path.is_file() and self._is_users(path.name, user_id):
                path.unlink()
                self.removed.append(path)

    @staticmethod
    def _is_users(name: str, user_id: int) -> bool:
        return name.startswith((f"hipcoach-{user_id}.", f"hipcoach-{user_id}-"))


class Inbox:
    """The terminal's sender: keeps what the coach delivers (one part a message) until it is shown."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def send(self, user_id: int, messages: list[Message], progress: Progress | None = None) -> None:
        progress = progress or Untracked()
        for part in range(progress.first, len(messages)):
            await progress.sending(part)
            self.messages.append(messages[part])

    def take(self) -> list[Message]:
        taken, self.messages = self.messages, []
        return taken


class TerminalChat:
    """One user's chat on standard input and output; its pieces come from bot/bootstrap.py."""

    def __init__(
        self,
        coach: Coach,
        storage: Storage,
        dispatcher: Dispatcher,
        inbox: Inbox,
        saved: SavedFiles,
        user_id: int,
        json_mode: bool,
        stdin: TextIO,
        stdout: TextIO,
    ) -> None:
        self.coach = coach
        self.storage = storage
        self.dispatcher = dispatcher  # delivers to `inbox`
        self.inbox = inbox
        self.saved = saved  # the coach's user files too: /delete removes them
        self.user_id = user_id
        self.json_mode = json_mode
        self.stdin = stdin
        self.stdout = stdout
        self.buttons: list[tuple[str, str]] = []

    async def run(self, database: str = "", announce_due: bool = False) -> None:
        """Chat until end of input; due prompts come first (in JSON mode as one line, with --now)."""
        if not self.json_mode:
            self._say(self.coach.content.message("terminal_intro").format(database=database))
        if announce_due or not self.json_mode:
            await self._deliver_due(always=self.json_mode)
        if not self.json_mode:
            await self._turn(Command("start"))
        while True:
            if not self.json_mode:
                self.stdout.write(self.coach.content.message("terminal_prompt"))
                self.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:
                break
            if not self.json_mode:
                if not line.strip():
                    continue
                await self._deliver_due(always=False)
            await self._turn(parse_input(line, self.buttons, numbered=not self.json_mode))
        if not self.json_mode:
            kept = await self.storage.load_state(self.user_id) != State()
            goodbye = "terminal_goodbye" if kept else "terminal_goodbye_nothing_kept"
            self._say("\n" + self.coach.content.message(goodbye))

    async def _deliver_due(self, always: bool) -> None:
        await self.dispatcher.run_due(user_id=self.user_id)
        messages = self.inbox.take()
        if messages or always:
            self._show(messages)

    async def _turn(self, event: Event) -> None:
        """The one turn path: taken and committed with its outbox row, then delivered here."""
        answer = await self.coach.turn(self.user_id, event)
        assert answer is not None  # only a Telegram update can be a redelivery
        await self.coach.deliver_answer(self.user_id, answer, self.inbox)
        self._show(self.inbox.take())

    def _save_files(self, messages: list[Message]) -> list[Message]:
        """Save attached files and say where (the terminal cannot show them); say which were deleted."""
        saved = []
        message_of = self.coach.content.message
        for message in messages:
            paths = [self.saved.save(self.user_id, file) for file in message.files]
            notes = [message_of("terminal_file_saved").format(path=path) for path in paths]
            notes += [message_of("terminal_file_deleted").format(path=path) for path in self.saved.removed]
            self.saved.removed = []
            text = "\n".join([message.text, *notes])
            saved.append(dataclasses.replace(message, text=text, files=(), attachment=None))
        return saved

    def _show(self, messages: list[Message]) -> None:
        messages = [dataclasses.replace(m, text=plain(m.text)) for m in self._save_files(messages)]
        self.buttons = numbered(messages)
        if self.json_mode:
            self._say(json.dumps([m.to_json() for m in messages], ensure_ascii=False))
            return
        number = 1
        for message in messages:
            self._say(format_human(message, number) + "\n")
            number += len(numbered([message]))

    def _say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()
