"""`GET /dashboards/{semester}`: the half-yearly dashboard as a French web page (no script: charts and map are
SVG drawn here), its PDF for the meeting (`.pdf` or `?format=pdf`) and its CSV (`.csv` or `?format=csv`).
Every number comes from the same function as `GET /v1/stats/semesters/{semester}`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.api.deps import SessionDep
from services.api.routers.stats import STATISTICS_READERS, Variant, checked_scope, report_for
from services.core.access import Principal
from services.core.access.policy import statistics_sectors, statistics_variants
from services.core.clock import utc_now
from services.core.fiches import FicheBook
from services.core.procedures import fiches_in_force
from services.core.settings import get_settings
from services.core.stats.charts import HIDDEN_FILL, PALETTE, bars, classes, fill, paris_map
from services.core.stats.export import to_csv
from services.core.stats.pdf import PdfUnavailable, html_to_pdf
from services.core.stats.semesters import PARIS, Semester
from services.core.territory import SECTORS, default_map

router = APIRouter(tags=["tableaux de bord"])
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=select_autoescape(["html"]),
)
# The page loads nothing from anywhere: styles are inline, images are inline SVG, there is no script.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
NARROW_SPACE = "\u202f"

SOURCE_LABELS = {
    "maraude": "Maraude",
    "mairie": "Mairie",
    "riverain": "Riverain",
    "partenaire": "Partenaire",
    "police": "Police",
    "transport": "Transports",
    "sante": "Santé",
    "numero_115": "115",
    "autre": "Autre",
}
OUTCOME_LABELS = {
    "sheltered": "Mise à l'abri, hébergement",
    "hospitalized": "Hospitalisation",
    "oriented": "Orientation (droit commun, accueil de jour…)",
    "refused": "Refus de la personne",
    "not_found": "Personne non retrouvée",
    "already_supported": "Déjà suivie",
    "deceased": "Décès",
    "left_area": "Partie du secteur",
    "other": "Autre",
}
STEP_LABELS = {"ack": "Prise en compte", "contact": "Premier contact", "resolve": "Résolution"}


def sector_label(sector: str | None) -> str:
    if sector is None:
        return "Tout Paris"
    if sector == "paris-centre":
        return "Paris Centre"
    number = int(sector.removeprefix("paris-"))
    return f"Paris {number}{'er' if number == 1 else 'e'}"


def raw(value: Any) -> str:
    """A figure as the JSON has it, for `data-value` (what the browser test compares)."""
    return "" if value is None else str(value)


def count_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,}".replace(",", NARROW_SPACE)


def minutes_text(value: float | None) -> str:
    if value is None:
        return "—"
    minutes = round(value)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} j {hours} h"


def share_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}".replace(".", ",") + f"{NARROW_SPACE}%"


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
    for kind, noun in (("ack", "prise en compte"), ("contact", "premier contact"), ("resolve", "résolution")):
        figure = f"time_to_{kind}"
        rows.append(
            _row(
                f"{figure}.median_minutes",
                f"Délai médian de {noun}",
                now[figure]["median_minutes"],
                before[figure]["median_minutes"],
                minutes_text,
            )
        )
        rows.append(
            _row(
                f"{figure}.p90_minutes",
                f"Délai de {noun} tenu pour 9 situations sur 10",
                now[figure]["p90_minutes"],
                before[figure]["p90_minutes"],
                minutes_text,
            )
        )
    for kind, label in STEP_LABELS.items():
        rows.append(
            _row(
                f"deadlines_met.{kind}",
                f"Délais de {label.lower()} tenus",
                now["deadlines_met"][kind],
                before["deadlines_met"][kind],
                share_text,
            )
        )
    return rows


def _breakdown_rows(figure: str, labels: dict[str, str], now: dict[str, Any], before: dict[str, Any]) -> list[Row]:
    return [
        _row(f"{figure}.{key}", labels.get(key, key), now[figure][key], before[figure].get(key)) for key in now[figure]
    ]


def _number(value: Any) -> float | None:
    return None if value is None or isinstance(value, str) else float(value)


def _charts(now: dict[str, Any], before: dict[str, Any], fiche_labels: dict[str, str]) -> list[dict[str, Any]]:
    by_fiche = _breakdown_rows("by_fiche", fiche_labels, now, before)
    by_outcome = _breakdown_rows("by_outcome", OUTCOME_LABELS, now, before)
    deadlines = [
        _row(f"deadlines_met.{kind}", label, now["deadlines_met"][kind], before["deadlines_met"][kind], share_text)
        for kind, label in STEP_LABELS.items()
    ]
    ack_rows = [
        _row(
            f"time_to_ack.{field}",
            label,
            now["time_to_ack"][field],
            before["time_to_ack"][field],
            minutes_text,
        )
        for field, label in (("median_minutes", "Médiane"), ("p90_minutes", "9 situations sur 10"))
    ]
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
            [
                (
                    key,
                    f"{key} {fiche_labels.get(key, '')}",
                    _number(now["by_fiche"][key]),
                    count_text(now["by_fiche"][key]),
                )
                for key in now["by_fiche"]
            ],
            "Fiche principale de chaque situation ouverte dans le semestre.",
            "#3182bd",
        ),
        chart(
            "by-outcome",
            "Issues des situations résolues",
            "Issue",
            by_outcome,
            [
                (key, OUTCOME_LABELS.get(key, key), _number(now["by_outcome"][key]), count_text(now["by_outcome"][key]))
                for key in now["by_outcome"]
            ],
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
                for kind, label in STEP_LABELS.items()
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


def _map(now: dict[str, Any], before: dict[str, Any], sector: str | None, link: Any) -> dict[str, Any]:
    geometry = paris_map()
    values = now["by_sector"]
    bounds = classes([v for v in values.values() if isinstance(v, int)])
    areas, labels = [], []
    for area in geometry.areas:
        shown = values.get(area.sector)
        colour = "#f0f0f0" if shown is None else fill(shown, bounds)
        if sector is not None and area.sector == sector:
            colour = PALETTE[3]
        title = f"{sector_label(area.sector)} : {count_text(shown) if shown is not None else 'non affiché'}"
        areas.append({"path": area.path, "fill": colour, "title": title, "link": link(area.sector)})
    dark = set(PALETTE[3:])
    for label in geometry.labels:
        shown = values.get(label.sector)
        colour = PALETTE[3] if sector == label.sector else ("#f0f0f0" if shown is None else fill(shown, bounds))
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
        legend = [{"fill": PALETTE[3], "label": sector_label(sector)}, {"fill": "#f0f0f0", "label": "autres secteurs"}]
        title, description = (
            f"Situations ouvertes : {sector_label(sector)}",
            f"Carte de Paris où le secteur {sector_label(sector)} est mis en évidence.",
        )
    rows = [
        _row(f"by_sector.{key}", sector_label(key), now["by_sector"][key], before["by_sector"].get(key))
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
) -> str:
    fiche_labels = {code: book.label(code) for code in book.codes}
    allowed = statistics_sectors(principal, default_map().zones)
    choices = [None, *SECTORS] if allowed is None else [s for s in SECTORS if s in allowed]
    variant_choice = len(statistics_variants(principal)) > 1

    def link(path: str, **params: str | None) -> str:
        query = {key: value for key, value in params.items() if value is not None}
        return path + (f"?{urlencode(query)}" if query else "")

    keep_variant = variant if variant_choice else None
    page_path = f"/dashboards/{semester.code}"
    last_day = min(semester.end, generated_at) - timedelta(microseconds=1)
    return TEMPLATES.get_template("dashboard.html").render(
        title=f"Tableau de bord semestriel — {semester.label} — {sector_label(sector)}",
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
        sector_options=[{"value": s or "", "label": sector_label(s), "selected": s == sector} for s in choices],
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
        ),
        sources=_breakdown_rows("by_source", SOURCE_LABELS, now, before),
        generated_at=generated_at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M"),
        csrf_token=csrf_token,
    )


def _parse_name(name: str) -> tuple[str, str | None]:
    for suffix in ("pdf", "csv"):
        if name.endswith(f".{suffix}"):
            return name[: -len(suffix) - 1], suffix
    return name, None


@router.get("/dashboards/{name}", response_model=None, include_in_schema=False)
def dashboard(
    name: str,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(STATISTICS_READERS)],
    sector: Annotated[str | None, Query()] = None,
    variant: Annotated[Variant | None, Query()] = None,
    format: Annotated[Literal["html", "pdf", "csv"] | None, Query()] = None,
) -> Response:
    code, suffix = _parse_name(name)
    semester = Semester.parse(code)
    sector = sector or None  # the form sends an empty value for all Paris
    chosen = checked_scope(principal, sector, variant)
    kind = suffix or format or "html"
    current = report_for(session, semester, sector, chosen)
    previous = report_for(session, semester.previous(), sector, chosen)
    if kind == "csv":
        filename = f"tableau-de-bord-{semester.code}-{sector or 'paris'}-{chosen}.csv"
        return Response(
            to_csv([current, previous]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    html = render_dashboard(
        current,
        previous,
        semester=semester,
        sector=sector,
        variant=chosen,
        principal=principal,
        generated_at=utc_now(),
        csrf_token=getattr(request.state, "csrf_token", ""),
        book=fiches_in_force(session),
    )
    if kind == "pdf":
        settings = get_settings()
        try:
            pdf = html_to_pdf(html, binary=settings.chromium_binary, timeout=settings.pdf_timeout_seconds)
        except PdfUnavailable as err:
            raise HTTPException(503, f"PDF indisponible : {err}") from err
        filename = f"tableau-de-bord-{semester.code}-{sector or 'paris'}.pdf"
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{filename}"'}
        )
    return HTMLResponse(html, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})
