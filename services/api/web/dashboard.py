"""The half-yearly dashboard as a French page (no script: charts and map are SVG drawn here), printed to PDF
from the same HTML. Every number comes in from `services.api.statistics.report_for`, as for the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.api.web.formats import OUTCOME_LABELS, SOURCE_LABELS, count_text, minutes_text, sector_label, share_text
from services.core.access import Principal
from services.core.access.policy import statistics_sectors, statistics_variants
from services.core.deadlines import DEADLINE_LABELS
from services.core.fiches import FicheBook
from services.core.stats.charts import HIDDEN_FILL, PALETTE, bars, classes, fill, paris_map
from services.core.stats.semesters import PARIS, Semester
from services.core.territory import SECTORS, TerritoryMap

# Its own environment: the page is self-contained (inline styles), for the PDF printer as for browsers.
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=select_autoescape(["html"]),
)
# The page loads nothing from anywhere: styles are inline, images are inline SVG, there is no script.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# A chart says « Autre »; the form's longer label asks for a note.
CHART_OUTCOME_LABELS = {**OUTCOME_LABELS, "other": "Autre"}


def place_label(sector: str | None) -> str:
    """« Paris 13e », or « Tout Paris » for the figures of all sectors."""
    return "Tout Paris" if sector is None else sector_label(sector)


def raw(value: Any) -> str:
    """A figure as the JSON has it, for `data-value` (what the browser test compares)."""
    return "" if value is None else str(value)


def _day_text(instant: datetime) -> str:
    return instant.astimezone(PARIS).strftime("%d/%m/%Y")


@dataclass(frozen=True)
class Row:
    figure: str
    label: str
    current: str
    previous: str
    current_raw: str
    previous_raw: str


def _row(figure: str, label: str, current: Any, previous: Any, text: Any = count_text) -> Row:
    return Row(figure, label, text(current), text(previous), raw(current), raw(previous))


def _key_figures(now: dict[str, Any], before: dict[str, Any]) -> list[Row]:
    open_label = "Situations ouvertes en fin de semestre" if now["complete"] else "Situations ouvertes à ce jour"
    rows = [
        _row("signals_received", "Signalements reçus", now["signals_received"], before["signals_received"]),
        _row("situations_opened", "Situations ouvertes", now["situations_opened"], before["situations_opened"]),
        _row("situations_resolved", "Situations résolues", now["situations_resolved"], before["situations_resolved"]),
        _row("open_at_end", open_label, now["open_at_end"], before["open_at_end"]),
        _row("escalations", "Escalades vers la MUS", now["escalations"], before["escalations"]),
    ]
    for kind, label in DEADLINE_LABELS.items():
        noun = label.lower()
        wording = (f"Délai médian de {noun}", f"Délai de {noun} tenu pour 9 situations sur 10")
        rows.extend(_duration_rows(f"time_to_{kind}", wording, now, before))
    rows.extend(_met_rows(now, before, lambda label: f"Délais de {label.lower()} tenus"))
    return rows


def _duration_rows(figure: str, labels: tuple[str, str], now: dict[str, Any], before: dict[str, Any]) -> list[Row]:
    """A duration's rows: its median, then the time kept for 9 situations out of 10, under `labels`."""
    return [
        _row(f"{figure}.{field}", label, now[figure][field], before[figure][field], minutes_text)
        for field, label in zip(("median_minutes", "p90_minutes"), labels, strict=True)
    ]


def _met_rows(now: dict[str, Any], before: dict[str, Any], wording: Callable[[str], str]) -> list[Row]:
    """The share of each deadline met, a row a deadline, labelled `wording(its label)`."""
    met, met_before = now["deadlines_met"], before["deadlines_met"]
    return [
        _row(f"deadlines_met.{kind}", wording(label), met[kind], met_before[kind], share_text)
        for kind, label in DEADLINE_LABELS.items()
    ]


def _breakdown_rows(figure: str, labels: dict[str, str], now: dict[str, Any], before: dict[str, Any]) -> list[Row]:
    return [
        _row(f"{figure}.{key}", labels.get(key, key), now[figure][key], before[figure].get(key)) for key in now[figure]
    ]


def _number(value: Any) -> float | None:
    return None if value is None or isinstance(value, str) else float(value)


def _count_bars(counts: dict[str, Any], label: Callable[[str], str]) -> list[tuple[str, str, float | None, str]]:
    """A breakdown's bars: each key, its label, its count (none where masked) and the count as written."""
    return [(key, label(key), _number(count), count_text(count)) for key, count in counts.items()]


def _charts(now: dict[str, Any], before: dict[str, Any], fiche_labels: dict[str, str]) -> list[dict[str, Any]]:
    by_fiche = _breakdown_rows("by_fiche", fiche_labels, now, before)
    by_outcome = _breakdown_rows("by_outcome", CHART_OUTCOME_LABELS, now, before)
    deadlines = _met_rows(now, before, str)
    ack_rows = _duration_rows("time_to_ack", ("Médiane", "9 situations sur 10"), now, before)
    ack_bars = []
    for field, label in (("median_minutes", "Médiane"), ("p90_minutes", "9 sur 10")):
        for which, report in (("current", now), ("previous", before)):
            value = report["time_to_ack"][field]
            ack_bars.append((f"{field}.{which}", f"{label} — {report['semester']}", value, minutes_text(value)))

    def chart(
        chart_id: str, title: str, key_header: str, rows: list[Row], items: list[Any], caption: str, colour: str
    ) -> dict[str, Any]:
        drawn = bars(items)
        return {
            "id": chart_id,
            "title": title,
            "key_header": key_header,
            "rows": rows,
            "bars": drawn,
            "height": max(22 * len(drawn), 22),
            "colour": colour,
            "caption": caption,
            "description": f"Diagramme en barres : {title.lower()}, {now['semester']}.",
        }

    return [
        chart(
            "by-fiche",
            "Situations ouvertes par fiche réflexe",
            "Fiche (principale)",
            by_fiche,
            _count_bars(now["by_fiche"], lambda key: f"{key} {fiche_labels.get(key, '')}"),
            "Fiche principale de chaque situation ouverte dans le semestre.",
            "#3182bd",
        ),
        chart(
            "by-outcome",
            "Issues des situations résolues",
            "Issue",
            by_outcome,
            _count_bars(now["by_outcome"], lambda key: CHART_OUTCOME_LABELS.get(key, key)),
            "Issue enregistrée pour chaque situation résolue dans le semestre.",
            "#31a354",
        ),
        chart(
            "deadlines",
            "Délais tenus",
            "Étape",
            deadlines,
            [
                (
                    kind,
                    label,
                    None if now["deadlines_met"][kind] is None else now["deadlines_met"][kind] * 100,
                    share_text(now["deadlines_met"][kind]),
                )
                for kind, label in DEADLINE_LABELS.items()
            ],
            "Part des échéances du semestre respectées, par étape (100 % = toutes).",
            "#756bb1",
        ),
        chart(
            "time-to-ack",
            "Délai de prise en compte",
            "Mesure",
            ack_rows,
            ack_bars,
            "Depuis la réception du signalement : médiane et délai tenu pour 9 situations sur 10, "
            "ce semestre et le précédent.",
            "#e6550d",
        ),
    ]


def _map(
    now: dict[str, Any], before: dict[str, Any], sector: str | None, link: Any, territory_map: TerritoryMap
) -> dict[str, Any]:
    geometry = paris_map(territory_map)
    values = now["by_sector"]
    bounds = classes([v for v in values.values() if isinstance(v, int)])

    def colour_of(code: str) -> str:
        """The chosen sector stands out; the others by their count (grey where none is shown)."""
        if code == sector:
            return PALETTE[3]
        shown = values.get(code)
        return "#f0f0f0" if shown is None else fill(shown, bounds)

    areas, labels = [], []
    for area in geometry.areas:
        shown = values.get(area.sector)
        title = f"{place_label(area.sector)} : {count_text(shown) if shown is not None else 'non affiché'}"
        areas.append({"path": area.path, "fill": colour_of(area.sector), "title": title, "link": link(area.sector)})
    dark = set(PALETTE[3:])
    for label in geometry.labels:
        colour = colour_of(label.sector)
        labels.append(
            {"x": label.x, "y": label.y, "text": label.text, "ink": "#ffffff" if colour in dark else "#1a1a1a"}
        )
    if sector is None:
        legend = [
            {"fill": colour, "label": f"{(bounds[i - 1] + 1) if i else 0} à {upper}"}
            for i, (colour, upper) in enumerate(zip(PALETTE, bounds, strict=False))
        ]
        if any(isinstance(v, str) for v in values.values()):
            legend.append({"fill": HIDDEN_FILL, "label": "secret statistique"})
        title, description = (
            "Situations ouvertes par secteur",
            "Carte de Paris : situations ouvertes par secteur, couleur plus foncée pour plus de situations.",
        )
    else:
        legend = [{"fill": PALETTE[3], "label": place_label(sector)}, {"fill": "#f0f0f0", "label": "autres secteurs"}]
        title, description = (
            f"Situations ouvertes : {place_label(sector)}",
            f"Carte de Paris où le secteur {place_label(sector)} est mis en évidence.",
        )
    rows = [
        _row(f"by_sector.{key}", place_label(key), now["by_sector"][key], before["by_sector"].get(key))
        for key in now["by_sector"]
    ]
    return {
        "title": title,
        "description": description,
        "width": geometry.width,
        "height": geometry.height,
        "areas": areas,
        "labels": labels,
        "legend": legend,
        "rows": rows,
    }


def render_dashboard(
    now: dict[str, Any],
    before: dict[str, Any],
    *,
    semester: Semester,
    sector: str | None,
    variant: str,
    principal: Principal,
    generated_at: datetime,
    csrf_token: str = "",
    book: FicheBook,
    territory_map: TerritoryMap,
) -> str:
    fiche_labels = {code: book.label(code) for code in book.codes}
    allowed = statistics_sectors(principal, territory_map.zones)
    choices = [None, *SECTORS] if allowed is None else [s for s in SECTORS if s in allowed]
    variant_choice = len(statistics_variants(principal)) > 1

    def link(path: str, **params: str | None) -> str:
        query = {key: value for key, value in params.items() if value is not None}
        return path + (f"?{urlencode(query)}" if query else "")

    keep_variant = variant if variant_choice else None
    page_path = f"/dashboards/{semester.code}"
    last_day = min(semester.end, generated_at) - timedelta(microseconds=1)
    return TEMPLATES.get_template("dashboard.html").render(
        title=f"Tableau de bord semestriel — {semester.label} — {place_label(sector)}",
        current_label=semester.label,
        previous_label=semester.previous().label,
        period_start=_day_text(semester.start),
        period_end=_day_text(semester.end - timedelta(microseconds=1)),
        as_of=_day_text(last_day) + generated_at.astimezone(PARIS).strftime(" à %H:%M"),
        complete=now["complete"],
        variant=variant,
        threshold=now["threshold"],
        variant_choice=variant_choice,
        page_path=page_path,
        sector_options=[{"value": s or "", "label": place_label(s), "selected": s == sector} for s in choices],
        csv_link=link(f"/dashboards/{semester.code}.csv", sector=sector, variant=keep_variant),
        pdf_link=link(f"/dashboards/{semester.code}.pdf", sector=sector, variant=keep_variant),
        previous_link=link(f"/dashboards/{semester.previous().code}", sector=sector, variant=keep_variant),
        key_figures=_key_figures(now, before),
        charts=_charts(now, before, fiche_labels),
        map=_map(
            now,
            before,
            sector,
            lambda s: (
                link(page_path, sector=s, variant=keep_variant)
                if allowed is None or s in allowed
                else link(page_path, sector=sector, variant=keep_variant)
            ),
            territory_map,
        ),
        sources=_breakdown_rows("by_source", SOURCE_LABELS, now, before),
        generated_at=generated_at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M"),
        csrf_token=csrf_token,
    )
