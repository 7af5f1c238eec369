"""The flare-up plan (progression.yaml `flare`): lighter at once, a few lighter days, then a staged return.

The plan lives in the dialogue data as {"since", "until", "exercise", "level", "load"}: when the
lighter days end, and the dose (level and kettlebell load) on `exercise` from before the flare, which
the staged return climbs back to one step per good counted session. A flare during a flare starts
the lighter days again from now and keeps the original target. A change of exercise ends the plan:
its target was a dose on the exercise left behind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows.dose import bounds
from hipcoach.flows.progression import Decision, Session, counted, is_good

Plan = dict[str, Any]


def lowered(level: int, load: int, steps: int, content: Content) -> tuple[int, int]:
    """`steps` lighter: a heavier kettlebell goes first, then dose levels, never below the lowest."""
    lowest = bounds(content)[0]
    for _ in range(steps):
        if load > 0:
            load -= 1
        elif level > lowest:
            level -= 1
    return level, load


def start(plan: Plan | None, position: Mapping[str, Any], now: datetime, content: Content) -> Plan:
    """A new plan, or the running one extended from now; the target is the dose before the first flare."""
    rules = content.progression.flare
    until = (now + timedelta(days=rules.days)).isoformat()
    if plan is not None and plan.get("exercise") == position["exercise"]:
        return {**plan, "until": until}
    level, load = position.get("level", 0), position.get("load", 0)
    return {
        "since": now.isoformat(),
        "until": until,
        "exercise": position["exercise"],
        "level": level,
        "load": load,
    }


def adjust(
    decision: Decision,
    plan: Plan | None,
    latest: Session,
    position: Mapping[str, Any],
    now: datetime,
    content: Content,
) -> tuple[Decision, Plan | None]:
    """The decision as the flare plan has it, and the plan from now on (None once it is over).

    Lighter days: no step up. Afterwards: one step back towards the dose before the flare after each
    good counted session. A step back is always taken, flare or not."""
    if plan is None or decision.kind == "wait":
        return decision, plan
    if position["exercise"] != plan.get("exercise"):  # another exercise, or a plan from before stages
        return decision, None
    if decision.kind == "simplify":
        return decision, plan if decision.exercise == plan["exercise"] else None
    level, load = position.get("level", 0), position.get("load", 0)
    until = datetime.fromisoformat(plan["until"])
    if now < until:
        days = max(1, math.ceil((until - now) / timedelta(days=1)))
        return Decision("hold", plan["exercise"], "flare_hold", {"days": days}, level=level), plan
    if not (counted(latest) and is_good(latest, content.progression)):
        return decision, plan
    target = (plan["level"], plan["load"])
    if level < target[0]:
        level += 1
    elif load < target[1]:
        load += 1
    exercise = plan["exercise"]
    if level >= target[0] and load >= target[1]:
        return Decision("progress", exercise, "flare_done", level=level, load=load), None
    told = {"count": (target[0] - level) + max(0, target[1] - load)}
    return Decision("progress", exercise, "flare_step", told, level=level, load=load), plan
