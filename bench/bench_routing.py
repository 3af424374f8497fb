"""Routing throughput on one core: `uv run python bench/bench_routing.py [--signals N] [--seed S]`.

Builds a realistic mix of facts (mostly single adults, then families, women alone, young people, elderly
people, some flags, a weather plan on part of the run), locates them beforehand (territory lookup is not
part of `route`), then times `route()` alone and prints decisions per second.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from services.core.facts import Facts, People, WeatherPlan
from services.core.fiches import load_fiches
from services.core.routing import route
from services.core.territory import Territory, default_map

ROOT = Path(__file__).resolve().parents[1]

# Each flag is drawn independently with this probability: roughly what a night of signals looks like.
_FLAG_RATES: dict[str, float] = {
    "cold_exposure": 0.05,
    "psychiatric_distress": 0.05,
    "drug_use": 0.05,
    "hospital_exit": 0.02,
    "prison_exit": 0.01,
    "violence": 0.03,
    "disability": 0.02,
    "animals": 0.03,
    "pregnant": 0.01,
    "suicide_risk": 0.01,
    "immediate_danger": 0.01,
    "vital_emergency": 0.005,
    "camp": 0.01,
    "deceased": 0.001,
    "child_in_danger": 0.005,
}


def _people(rng: random.Random) -> People:
    kind = rng.random()
    if kind < 0.55:  # one adult
        adults, children, minors = 1, 0, 0
    elif kind < 0.70:  # a couple or a group of adults
        adults, children, minors = rng.randint(2, 4), 0, 0
    elif kind < 0.88:  # a family
        adults, children, minors = rng.randint(1, 2), rng.randint(1, 4), 0
    elif kind < 0.93:  # unaccompanied minors
        adults, children, minors = 0, 0, rng.randint(1, 3)
    else:  # a group with several people
        adults, children, minors = rng.randint(3, 12), rng.randint(0, 3), 0
    genders = None
    if rng.random() < 0.6:
        said = rng.randint(0, adults)  # partial lists are common
        genders = tuple(rng.choice(("female", "male", "male", "unknown")) for _ in range(said))
    bands = None
    if rng.random() < 0.5:
        said = rng.randint(0, adults)
        bands = tuple(rng.choice(("18-25", "26-59", "26-59", "60+", "unknown")) for _ in range(said))
    return People(adults, children, minors, genders, bands)


def build_mix(count: int, seed: int) -> list[tuple[Facts, Territory, WeatherPlan | None]]:
    rng = random.Random(seed)
    territory_map = default_map()
    territories = [territory_map.locate(arrondissement=n) for n in range(1, 21)]
    territories.append(territory_map.locate(postcode="93200"))  # a few out of Paris
    plans: list[WeatherPlan | None] = [None, None, WeatherPlan("grand_froid", 2), WeatherPlan("canicule", 1)]
    mix = []
    for _ in range(count):
        flags = frozenset(flag for flag, rate in _FLAG_RATES.items() if rng.random() < rate)
        mix.append((Facts(_people(rng), flags), rng.choice(territories), rng.choice(plans)))
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    book = load_fiches(ROOT / "fiches_reflexes")
    mix = build_mix(args.signals, args.seed)
    best = float("inf")
    fiches_seen: dict[str, int] = {}
    for _ in range(args.rounds):
        start = time.perf_counter()
        for facts, territory, weather in mix:
            route(facts, book, territory, weather)
        best = min(best, time.perf_counter() - start)
    for facts, territory, weather in mix:
        primary = route(facts, book, territory, weather).primary_fiche
        fiches_seen[primary] = fiches_seen.get(primary, 0) + 1
    rate = len(mix) / best
    print(f"{len(mix)} décisions, meilleur de {args.rounds} passages : {best * 1000:.1f} ms")
    print(f"{rate:,.0f} décisions/s sur un cœur".replace(",", " "))
    print("fiches principales :", ", ".join(f"{code}={n}" for code, n in sorted(fiches_seen.items())))


if __name__ == "__main__":
    main()
