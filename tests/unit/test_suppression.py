"""Small-count suppression: nothing under the threshold is shown, and no hidden cell can be pinned down from
what is shown (checked by enumerating every table a reader could believe in)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from services.core.stats.suppression import MARGIN, Cell, Table, suppress

K = 5


def table(values: list[list[int]]) -> Table:
    rows = tuple(f"r{i}" for i in range(len(values)))
    columns = tuple(f"c{j}" for j in range(len(values[0])))
    return Table(rows, columns, {(r, c): values[i][j] for i, r in enumerate(rows) for j, c in enumerate(columns)})


def readings(t: Table, hidden: set[Cell]) -> Iterator[dict[Cell, int]]:
    """Every table a reader could believe in: shown cells and margins as shown, hidden ones at least 1 (zeros are
    always shown), all sums holding. Yields the values of the hidden cells (margins included)."""
    shown = {cell: t.value(cell) for margin, cells in t.lines() for cell in (margin, *cells) if cell not in hidden}
    inner = [(r, c) for r in t.rows for c in t.columns if (r, c) in hidden]
    bound = t.value((MARGIN, MARGIN)) + 3 * K  # far above anything a sum allows

    def sums(values: dict[Cell, int]) -> dict[Cell, int]:
        full = {(r, c): values.get((r, c), t.cells.get((r, c), 0)) for r in t.rows for c in t.columns}
        result = dict(full)
        for r in t.rows:
            result[(r, MARGIN)] = sum(full[(r, c)] for c in t.columns)
        for c in t.columns:
            result[(MARGIN, c)] = sum(full[(r, c)] for r in t.rows)
        result[(MARGIN, MARGIN)] = sum(full.values())
        return result

    def ceiling(cell: Cell) -> int:
        row, column = cell
        limits = [shown[m] for m in ((row, MARGIN), (MARGIN, column), (MARGIN, MARGIN)) if m in shown]
        return min([bound, *limits])

    def over(chosen: dict[Cell, int], index: int) -> bool:
        """A shown row or column total that the cells set so far already break."""
        row, column = inner[index]
        done = inner[: index + 1]
        for line, members in (
            ((row, MARGIN), [(row, c) for c in t.columns]),
            ((MARGIN, column), [(r, column) for r in t.rows]),
        ):
            if line not in shown:
                continue
            # A hidden cell not set yet counts as its least possible value (1).
            total = sum(chosen.get(cell, 1) if cell in hidden else t.cells.get(cell, 0) for cell in members)
            complete = all(cell in done or cell not in hidden for cell in members)
            if total > shown[line] or (complete and total != shown[line]):
                return True
        return False

    def extend(index: int, chosen: dict[Cell, int]) -> Iterator[dict[Cell, int]]:
        if index == len(inner):
            everything = sums(chosen)
            if all(everything[cell] == value for cell, value in shown.items()) and all(
                everything[cell] >= 1 for cell in hidden
            ):
                yield {cell: everything[cell] for cell in hidden}
            return
        cell = inner[index]
        for value in range(1, ceiling(cell) + 1):
            chosen[cell] = value
            if not over(chosen, index):
                yield from extend(index + 1, chosen)
        chosen.pop(cell, None)

    yield from extend(0, {})


def assert_protected(values: list[list[int]]) -> set[Cell]:
    t = table(values)
    hidden = suppress(t, K)
    every_cell = {cell for margin, cells in t.lines() for cell in (margin, *cells)}
    small = {cell for cell in every_cell if 0 < t.value(cell) < K}
    assert small <= hidden  # nothing under the threshold is shown
    assert all(t.value(cell) > 0 for cell in hidden)  # zeros are never hidden
    if hidden:
        seen: dict[Cell, set[int]] = {cell: set() for cell in hidden}
        for reading in readings(t, hidden):
            for cell, value in reading.items():
                seen[cell].add(value)
        pinned = {cell for cell, values_seen in seen.items() if len(values_seen) < 2}
        assert not pinned, f"cases retrouvables : {pinned} dans {values} (masquées : {hidden})"
    return hidden


def test_a_single_small_cell_takes_another_with_it() -> None:
    hidden = assert_protected([[3, 40, 25]])
    assert ("r0", "c0") in hidden and ("r0", "c2") in hidden and ("r0", "c1") not in hidden


def test_small_cells_adding_up_to_less_than_the_threshold_take_more() -> None:
    hidden = assert_protected([[1, 2, 30, 40]])
    assert {("r0", "c0"), ("r0", "c1"), ("r0", "c2")} <= hidden


def test_nothing_hidden_when_nothing_is_small() -> None:
    assert assert_protected([[10, 0, 25], [7, 9, 0]]) == set()


def test_a_small_margin_hides_its_line() -> None:
    hidden = assert_protected([[2, 0, 1], [8, 6, 12]])
    assert ("r0", MARGIN) in hidden


@pytest.mark.parametrize("seed", range(25))
def test_random_small_tables_leave_no_cell_recoverable(seed: int) -> None:
    rng = random.Random(seed)
    rows, columns = rng.choice(((1, 4), (2, 3), (3, 2), (2, 2)))
    values = [[rng.choice((0, 0, 1, 2, 3, 4, 5, 6, 9)) for _ in range(columns)] for _ in range(rows)]
    assert_protected(values)
