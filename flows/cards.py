"""Parameters for the exercise card and other list-shaped messages."""

from __future__ import annotations

from collections.abc import Iterable

from hipcoach.content.figure import TEMPO
from hipcoach.content.schema import Content, Dose, Exercise


def bullets(items: Iterable[str], content: Content, locale: str = "en") -> str:
    template = content.message("list_bullet", locale)
    return "\n".join(template.format(item=item) for item in items)


def numbered(items: Iterable[str], content: Content, locale: str = "en") -> str:
    template = content.message("list_numbered", locale)
    return "\n".join(template.format(n=n, item=item) for n, item in enumerate(items, start=1))


def dose_text(dose: Dose, content: Content, locale: str = "en") -> str:
    key = "dose_reps" if dose.reps is not None else "dose_seconds"
    sets = content.text("dose_sets", locale, sets=dose.sets)
    text = content.text(key, locale, sets=sets, reps=dose.reps, seconds=dose.seconds)
    if dose.per_side:
        text += content.message("dose_per_side", locale)
    tempo = tempo_text(dose.tempo, content, locale)
    return content.message("dose_line", locale).format(amount=text, tempo=tempo, rest=dose.rest_seconds)


def tempo_text(tempo: str, content: Content, locale: str = "en") -> str:
    """A 'down-hold-up' tempo with its seconds said in words; tempo words already say what they mean."""
    numbers = TEMPO.match(tempo)
    if numbers is None:
        return tempo
    down, hold, up = (f"{float(n):g}" for n in numbers.groups())
    key = "tempo_counted" if float(hold) else "tempo_counted_no_hold"
    return content.message(key, locale).format(tempo=tempo.strip(), down=down, hold=hold, up=up)


def card_params(exercise: Exercise, content: Content, locale: str = "en") -> dict[str, str]:
    fault = content.message("fault_line", locale)
    return {
        "name": exercise.name,
        "plan": "",  # the session's plan line, filled in where the card is a session's (flows/plan.py)
        "why": exercise.why,
        "setup": exercise.setup,
        "steps": numbered(exercise.steps, content, locale),
        "cues": bullets(exercise.cues, content, locale),
        "faults": bullets((fault.format(fault=f.fault, fix=f.fix) for f in exercise.faults), content),
        "dose": dose_text(exercise.dose, content, locale),
        "safety": exercise.safety,
    }


def short_card_params(exercise: Exercise, content: Content, locale: str = "en") -> dict[str, str]:
    """A familiar exercise: its name, dose and two cues; the rest is one tap away."""
    return {
        "name": exercise.name,
        "plan": "",
        "dose": dose_text(exercise.dose, content, locale),
        "cues": bullets(exercise.cues[:2], content, locale),
    }
