"""Messages with a count: one template per CLDR plural category, chosen by Babel's rules for the locale.

In a messages file a plural message is a mapping instead of a string:

    missed_note:
      one: "I missed you for {count} session reminder."
      other: "I missed you for {count} session reminders."

The form is chosen by the parameter named in `by` ("count" unless given), with the locale's own
rules (English has "one" and "other"; Russian also "few" and "many"). Every plural message needs
"one" and "other", and every category its locale uses; `plural_problems` says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from babel import Locale

CATEGORIES = ("zero", "one", "two", "few", "many", "other")
REQUIRED = ("one", "other")
DEFAULT_BY = "count"


@cache
def _locale(locale: str) -> Locale:
    return Locale.parse(locale)


def category(count: float, locale: str) -> str:
    """The CLDR plural category of `count` in `locale`: "one" or "other" in English."""
    return _locale(locale).plural_form(count)


@dataclass(frozen=True)
class Plural:
    """A message whose words depend on a count: a template for each plural category."""

    forms: Mapping[str, str]
    by: str = DEFAULT_BY

    def choose(self, params: Mapping[str, object], locale: str) -> str:
        """The template for the count in `params[self.by]`; "other" where the locale's form is absent."""
        count = params[self.by]
        if not isinstance(count, int | float):
            raise TypeError(f"plural count {self.by!r} must be a number, got {count!r}")
        return self.forms.get(category(count, locale), self.forms["other"])

    def templates(self) -> tuple[str, ...]:
        return tuple(self.forms.values())


def plural_problems(raw: Mapping[object, object], locale: str) -> list[tuple[str, str]]:
    """What is wrong with a plural message's mapping, as (field suffix, reason) pairs."""
    problems: list[tuple[str, str]] = []
    for key, value in raw.items():
        if key == "by":
            if not isinstance(value, str) or not value.isidentifier():
                problems.append(("by", f"must name the count parameter, got {value!r}"))
        elif key not in CATEGORIES:
            problems.append((str(key), f"unknown plural form; the forms are {', '.join(CATEGORIES)}"))
        elif not isinstance(value, str) or not value.strip():
            problems.append((str(key), "must be non-empty text"))
    needed = sorted(set(REQUIRED) | _locale(locale).plural_form.tags, key=CATEGORIES.index)
    for form in needed:
        if form not in raw:
            problems.append((form, f"missing plural form '{form}' ({locale} needs {', '.join(needed)})"))
    return problems


def parse_plural(raw: Mapping[object, object]) -> Plural:
    """A checked mapping (see `plural_problems`) as a `Plural`."""
    forms = {str(k): str(v) for k, v in raw.items() if k != "by"}
    return Plural(forms, str(raw.get("by", DEFAULT_BY)))
