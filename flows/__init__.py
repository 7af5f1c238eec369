"""The functional core of Hip Coach: pure decisions on plain values. No I/O, no clock, no environment."""

from hipcoach.flows.catalogue import MESSAGE_PARAMS
from hipcoach.flows.engine import step
from hipcoach.flows.render import render, render_all
from hipcoach.flows.values import (
    Button,
    Choice,
    Command,
    Context,
    Due,
    Effect,
    Event,
    Message,
    Outcome,
    Reachable,
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
    "Reachable",
    "Reply",
    "State",
    "Text",
    "Unsupported",
    "render",
    "render_all",
    "step",
]
