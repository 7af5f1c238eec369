"""What a typed line means to the engine: a command, a numbered button (the terminal's), or free text."""

from __future__ import annotations

from hipcoach.flows import Choice, Command, Event, Text


def parse_input(line: str, buttons: list[tuple[str, str]], numbered: bool) -> Event:
    """A command, a numbered button (human mode only), or free text."""
    line = line.strip()
    if line.startswith("/") and len(line) > 1:
        name, _, args = line[1:].partition(" ")
        return Command(name.split("@")[0], args.strip())
    if numbered and (number := button_number(line, len(buttons))):
        return Choice(buttons[number - 1][1])
    return Text(line)


def button_number(line: str, count: int) -> int | None:
    """The button a typed number presses (1 is the first), or None.

    ASCII digits only: '²' passes str.isdigit() but int() refuses it; and no more digits than the
    count has, so a line of thousands of digits is never handed to int().
    """
    if not (line.isascii() and line.isdigit()) or len(line) > len(str(count)):
        return None
    return int(line) if 1 <= int(line) <= count else None
