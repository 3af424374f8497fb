"""A small declarative condition language over the facts, compiled once into closures.

A condition is a YAML mapping with exactly one of these forms:

    all: [<condition>, ...]            every one holds
    any: [<condition>, ...]            at least one holds
    flag: pregnant                     the flag is set
    count: children                    min ≤ count ≤ max (either bound may be left out);
    min: 1                             count ∈ adults, children, unaccompanied_minors, people (total)
    genders_all: female                at least one adult, one entry per adult, all equal to the value
    genders_any: female                at least one entry equal to the value (partial lists count)
    age_bands_all: "18-25"             as genders_all, on adult_age_bands
    age_bands_any: "60+"               as genders_any, on adult_age_bands
    weather: {grand_froid: 2, canicule: 3}   the plan in force is one of these at this level or above

There is deliberately no `not`: flags only ever add fiches, so adding a flag can never remove a partner or a
directive, nor lengthen a deadline (with FR00's deadlines the longest, which the loader checks).

A compiled condition answers None (does not hold) or the facts that made it hold, e.g. ("children=3",).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from services.core.facts import AGE_BANDS, FLAGS, GENDERS, Facts, People, WeatherPlan
from services.core.fiches.vocabulary import COUNT_FIELDS, WEATHER_LEVELS

Because = tuple[str, ...]
Condition = Callable[[Facts, WeatherPlan | None], Because | None]
# (field, message): the loader adds the file name.
Issue = tuple[str, str]

_COUNTS: dict[str, Callable[[People], int]] = {
    "adults": lambda p: p.adults,
    "children": lambda p: p.children,
    "unaccompanied_minors": lambda p: p.unaccompanied_minors,
    "people": lambda p: p.total,
}
_FORMS = (
    "all",
    "any",
    "flag",
    "count",
    "genders_all",
    "genders_any",
    "age_bands_all",
    "age_bands_any",
    "weather",
)


def compile_condition(raw: Any, path: str, issues: list[Issue]) -> Condition | None:
    """The closure for `raw`, or None after appending to `issues` what is wrong (with dotted paths)."""
    if not isinstance(raw, dict) or not raw:
        issues.append((path, "condition attendue : une table, par exemple {flag: pregnant}"))
        return None
    forms = [key for key in raw if key in _FORMS]
    unknown = [key for key in raw if key not in _FORMS and key not in ("min", "max")]
    if unknown:
        issues.append((f"{path}.{unknown[0]}", f"condition inconnue (attendu : {', '.join(_FORMS)})"))
        return None
    if len(forms) != 1:
        issues.append((path, f"une condition a exactement une forme parmi : {', '.join(_FORMS)}"))
        return None
    form = forms[0]
    if form != "count" and len(raw) != 1:
        extra = next(key for key in raw if key != form)
        issues.append((f"{path}.{extra}", f"clé inconnue pour une condition {form}"))
        return None
    value = raw[form]
    where = f"{path}.{form}"
    if form in ("all", "any"):
        return _compile_group(form, value, where, issues)
    if form == "flag":
        return _compile_flag(value, where, issues)
    if form == "count":
        return _compile_count(raw, path, issues)
    if form == "weather":
        return _compile_weather(value, where, issues)
    return _compile_list_test(form, value, where, issues)


def _compile_group(form: str, value: Any, where: str, issues: list[Issue]) -> Condition | None:
    if not isinstance(value, list) or not value:
        issues.append((where, "liste non vide de conditions attendue"))
        return None
    parts = [compile_condition(item, f"{where}.{i}", issues) for i, item in enumerate(value)]
    compiled = [part for part in parts if part is not None]
    if len(compiled) != len(parts):
        return None
    if form == "all":
        return _all(tuple(compiled))
    return _any(tuple(compiled))


def _all(parts: tuple[Condition, ...]) -> Condition:
    def holds(facts: Facts, weather: WeatherPlan | None) -> Because | None:
        because: Because = ()
        for part in parts:
            found = part(facts, weather)
            if found is None:
                return None
            because += found
        return because

    return holds


def _any(parts: tuple[Condition, ...]) -> Condition:
    # Every branch is evaluated: the decision explains all the reasons, not just the first one found.
    def holds(facts: Facts, weather: WeatherPlan | None) -> Because | None:
        because: Because | None = None
        for part in parts:
            found = part(facts, weather)
            if found is not None:
                because = found if because is None else because + found
        return because

    return holds


def _compile_flag(value: Any, where: str, issues: list[Issue]) -> Condition | None:
    if value not in FLAGS:
        issues.append((where, f"drapeau inconnu : {value!r} (attendu : {', '.join(FLAGS)})"))
        return None
    name: str = value
    reason = (f"flag:{name}",)

    def holds(facts: Facts, weather: WeatherPlan | None) -> Because | None:
        return reason if name in facts.flags else None

    return holds


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _compile_count(raw: dict[str, Any], path: str, issues: list[Issue]) -> Condition | None:
    field = raw["count"]
    if field not in COUNT_FIELDS:
        issues.append((f"{path}.count", f"compte inconnu : {field!r} (attendu : {', '.join(COUNT_FIELDS)})"))
        return None
    if "min" not in raw and "max" not in raw:
        issues.append((path, "un compte demande au moins une borne : min ou max"))
        return None
    for bound in ("min", "max"):
        if bound in raw and not _is_count(raw[bound]):
            issues.append((f"{path}.{bound}", "entier positif ou nul attendu"))
            return None
    low: int = raw.get("min", 0)
    high: int = raw.get("max", sys.maxsize)
    if low > high:
        issues.append((path, "min doit être inférieur ou égal à max"))
        return None
    get = _COUNTS[field]
    name: str = field

    def holds(facts: Facts, weather: WeatherPlan | None) -> Because | None:
        count = get(facts.people)
        return (f"{name}={count}",) if low <= count <= high else None

    return holds


def _compile_list_test(form: str, value: Any, where: str, issues: list[Issue]) -> Condition | None:
    on_genders = form.startswith("genders")
    allowed = GENDERS if on_genders else AGE_BANDS
    if value not in allowed:
        issues.append((where, f"valeur inconnue : {value!r} (attendu : {', '.join(allowed)})"))
        return None
    expected: str = value
    attribute = "adult_genders" if on_genders else "adult_age_bands"

    if form.endswith("_all"):
        reason = (f"{attribute}=all {expected}",)

        # Partial lists never count: "all female" needs one entry per adult (and at least one adult).
        def holds_all(facts: Facts, weather: WeatherPlan | None) -> Because | None:
            entries: tuple[str, ...] | None = getattr(facts.people, attribute)
            if not entries or len(entries) != facts.people.adults:
                return None
            return reason if all(entry == expected for entry in entries) else None

        return holds_all

    reason = (f"{attribute} has {expected}",)

    def holds_any(facts: Facts, weather: WeatherPlan | None) -> Because | None:
        entries: tuple[str, ...] | None = getattr(facts.people, attribute)
        return reason if entries and expected in entries else None

    return holds_any


def _compile_weather(value: Any, where: str, issues: list[Issue]) -> Condition | None:
    if not isinstance(value, dict) or not value:
        issues.append((where, "table attendue : plan → niveau minimal, par exemple {grand_froid: 2}"))
        return None
    thresholds: dict[str, int] = {}
    for kind, level in value.items():
        if kind not in WEATHER_LEVELS:
            issues.append((f"{where}.{kind}", f"plan inconnu (attendu : {', '.join(WEATHER_LEVELS)})"))
            return None
        if not _is_count(level) or not 1 <= level <= WEATHER_LEVELS[kind]:
            issues.append((f"{where}.{kind}", f"niveau attendu entre 1 et {WEATHER_LEVELS[kind]}"))
            return None
        thresholds[kind] = level

    def holds(facts: Facts, weather: WeatherPlan | None) -> Because | None:
        if weather is None:
            return None
        threshold = thresholds.get(weather.kind)
        if threshold is None or weather.level < threshold:
            return None
        return (f"weather:{weather.kind}={weather.level}",)

    return holds
