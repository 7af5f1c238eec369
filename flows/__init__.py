"""The functional core of Hip Coach: pure decisions on plain values. No I/O, no clock, no environment."""

from flows.catalogue import MESSAGE_PARAMS
from flows.engine import step
from flows.render import render, render_all
from flows.values import (
    Button,
    Choice,
    Command,
    Context,
    Due,
    Effect,
    Event,
    Message,
    Outcome,
    Reply,
    State,
    Text,
    Unsupported,
)

__all__ = [
    "MESSAGE_PARAMS",
    "Button",
    "Choice",
    "Command",
    "Context",
    "Due",
    "Effect",
    "Event",
    "Message",
    "Outcome",
    "Reply",
    "State",
    "Text",
    "Unsupported",
    "render",
    "render_all",
    "step",
]
