"""The naloxone card's summary names whole risk factors and stays within 139 characters."""

from __future__ import annotations

from rules.cards.offer_naloxone import _summary


def test_all_factors_fit() -> None:
    assert _summary(["120 MME/day", "benzodiazepine"]) == (
        "No naloxone on file; overdose risk: 120 MME/day, benzodiazepine. Offer naloxone."
    )


def test_too_many_factors_are_counted_never_cut() -> None:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    factors = [f"{word} is a rather long risk factor" for word in words]
    text = _summary(factors)
    assert len(text) <= 139
    shown = [f for f in factors if f in text]
    assert shown == factors[: len(shown)]
    assert f"+{len(factors) - len(shown)} more" in text
    for word, factor in zip(words, factors, strict=True):
        assert (word in text) == (factor in text)  # a factor is whole or absent


def test_no_factor_fits_falls_back_to_a_plain_sentence() -> None:
    assert _summary(["x" * 200]).startswith("No naloxone on file and overdose risk is raised")
