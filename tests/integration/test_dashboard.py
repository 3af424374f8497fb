"""The dashboard page, its CSV and its PDF: the API's figures, in French, with nothing loaded from elsewhere."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient

from services.core.stats.export import from_csv, lines
from tests.integration.conftest import TokenFactory
from tests.integration.test_stats import dataset  # noqa: F401  (the fixture)


class FigureCells(HTMLParser):
    """data-figure / data-semester / data-value of every cell, and the text shown in it."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], tuple[str, str]] = {}
        self._open: tuple[str, str, str] | None = None
        self._text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if "data-figure" in found:
            self._open = (found["data-figure"] or "", found["data-semester"] or "", found["data-value"] or "")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag == "td":
            figure, semester, value = self._open
            self.cells[(figure, semester)] = (value, "".join(self._text).strip())
            self._open = None


def page_cells(html: str) -> FigureCells:
    parser = FigureCells()
    parser.feed(html)
    return parser


def expected_cells(figures: dict[str, Any]) -> dict[str, str]:
    """figure id as the page names it → the JSON value, as text."""
    result = {}
    for name, key, value in lines(figures):
        result[f"{name}.{key}" if key else name] = "" if value is None else str(value)
    return result


def test_page_shows_the_api_figures(client: TestClient, token: TokenFactory, dataset: dict[str, str]) -> None:  # noqa: F811
    mus = token("coordinator", leads=["mus"])
    answer = client.get("/dashboards/2026-S1", headers=mus)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    html = answer.text
    assert '<html lang="fr">' in html and "<script" not in html and "http://" not in html.replace("http://www.w3", "")
    assert "Ville de Paris (ODbL)" in html and "Chiffres clés" in html
    cells = page_cells(html)
    assert {"svg", "table", "figure", "figcaption", "caption", "main", "nav"} <= set(cells.tags)
    for semester, code in (("current", "2026-S1"), ("previous", "2025-S2")):
        figures = client.get(f"/v1/stats/semesters/{code}", headers=mus).json()
        expected = expected_cells(figures)
        shown = {figure: value for (figure, which), (value, _) in cells.cells.items() if which == semester}
        assert shown, semester
        for figure, value in shown.items():
            assert value == expected[figure], (semester, figure)
    # What people read: counts as written in French, durations in hours and minutes.
    assert cells.cells[("signals_received", "current")][1] == "6"
    assert cells.cells[("time_to_resolve.median_minutes", "current")][1] == "5 h 00"
    assert cells.cells[("deadlines_met.ack", "current")][1] == "75,0\u202f%"
    assert "Semestre précédent" in html and "/dashboards/2025-S2" in html


def test_sector_page_and_published_variant(client: TestClient, token: TokenFactory, dataset: dict[str, str]) -> None:  # noqa: F811
    eps13 = token("coordinator", leads=["eps:paris-13"])
    assert client.get("/dashboards/2026-S1", headers=eps13).status_code == 403
    assert client.get("/dashboards/2026-S1?sector=paris-05", headers=eps13).status_code == 403
    answer = client.get("/dashboards/2026-S1?sector=paris-13", headers=eps13)
    assert answer.status_code == 200
    assert "Version publiable" in answer.text and "Paris 13e" in answer.text
    # Its selector offers its own sectors only.
    options = re.findall(r'<option value="([^"]*)"', answer.text)
    assert options == ["paris-13"]
    cells = page_cells(answer.text).cells
    assert cells[("situations_opened", "current")][0] == "secret"


def test_csv_and_pdf_reproduce_the_page(client: TestClient, token: TokenFactory, dataset: dict[str, str]) -> None:  # noqa: F811
    admin = token("admin")
    csv_answer = client.get("/dashboards/2026-S1.csv?sector=paris-13", headers=admin)
    assert csv_answer.status_code == 200
    table = from_csv(csv_answer.text)
    assert list(table) == ["2026-S1", "2025-S2"]
    for code in table:
        figures = client.get(f"/v1/stats/semesters/{code}?sector=paris-13", headers=admin).json()
        assert table[code] == {(n, k): "" if v is None else str(v) for n, k, v in lines(figures)}
    assert client.get("/dashboards/2026-S1?format=csv", headers=admin).text.startswith("figure,key,2026-S1,2025-S2")
    pdf = client.get("/dashboards/2026-S1.pdf", headers=admin)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert len(pdf.content) > 10_000
