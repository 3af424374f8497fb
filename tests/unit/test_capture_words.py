"""The capture app's words and its form: every code of the reference has its French, and the form becomes the
API's very body (then the API's schema judges it)."""

from __future__ import annotations

import pytest

from services.api.web.capture import page_errors, parse_signal, signal_body
from services.core.errors import InvalidInput
from services.core.facts import AGE_BANDS, FLAGS, GENDERS
from services.core.fiches.vocabulary import AGE_BAND_LABELS, DIRECTIVES, FLAG_LABELS, GENDER_LABELS
from services.core.signals.words import DIRECTIVE_CALLS, SAFETY_CALLS, calls_for


def test_every_code_of_the_reference_has_its_french_words() -> None:
    assert set(FLAG_LABELS) == set(FLAGS)
    assert set(GENDER_LABELS) == set(GENDERS) and set(AGE_BAND_LABELS) == set(AGE_BANDS)
    assert set(DIRECTIVE_CALLS) == set(DIRECTIVES)
    assert [call.number for call in SAFETY_CALLS] == ["15", "17", "112", "115", "119"]


def test_calls_come_most_urgent_first_with_a_tel_link() -> None:
    calls = calls_for(["call_115", "call_119", "call_15"])
    assert [call.words for call in calls] == ["Appelez le 15", "Appelez le 119", "Appelez le 115"]
    assert calls[0].href == "tel:15"
    assert calls_for([]) == []


def test_the_form_becomes_the_api_s_body() -> None:
    form = {
        "lat": ["48.831"],
        "lon": ["2.3555"],
        "postcode": ["75013"],
        "arrondissement": ["5"],
        "adults": ["2"],
        "children": ["3"],
        "gender_female": ["1"],
        "age_60_plus": ["1"],
        "flags": ["child_in_danger", "animals"],
        "place": ["  sous le pont "],
        "csrf_token": ["secret"],
        "idempotency_key": ["k"],
    }
    body, errors = signal_body(form)
    assert errors == []
    assert body == {
        "location": {"lat": 48.831, "lon": 2.3555, "postcode": "75013"},  # the position, then the postcode
        "source": "maraude",
        "people": {
            "adults": 2,
            "children": 3,
            "unaccompanied_minors": 0,
            "adult_genders": ["female"],
            "adult_age_bands": ["60+"],
        },
        "flags": ["child_in_danger", "animals"],
        "place": "sous le pont",
    }
    assert parse_signal(form).people.children == 3


def test_the_api_s_rules_come_back_on_the_form_s_fields() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_signal({"adults": ["501"], "gender_female": ["2"], "postcode": ["7501"], "source": ["facteur"]})
    fields = {error.field: error.message for error in page_errors(refused.value.errors)}
    assert fields["adults"] == "doit être ≤ 500"
    assert fields["postcode"].startswith("Un code postal a 5 chiffres")
    assert "maraude" in fields["source"]
    with pytest.raises(InvalidInput) as refused:
        parse_signal({"adults": ["1"], "gender_female": ["2"]})
    fields = {error.field: error.message for error in page_errors(refused.value.errors)}
    assert fields == {
        "location": "Indiquez votre position, un code postal ou un arrondissement.",
        "genders": "Plus de genres indiqués que d'adultes.",
    }
