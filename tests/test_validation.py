"""Property tests for input cleaning: whatever comes in, what goes out obeys the rules."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from rapport.errors import ErrorCode, Problems
from resolvers import validation

texts = st.text(max_size=300)


@given(texts, st.booleans())
# A zero-width space between a letter and its combining mark: removed after NFC, it left the
# two apart and un-composed (found by tests/test_input_properties.py on sendInterest).
@example("U\u200b\u0300", True)
@example("e\x07\u0301 ", False)
def test_normalised_text_is_trimmed_nfc_and_stable(value: str, multiline: bool) -> None:
    out = validation.normalise_text(value, multiline=multiline)
    assert out == out.strip()
    assert unicodedata.is_normalized("NFC", out)
    assert validation.normalise_text(out, multiline=multiline) == out
    assert not any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in out)
    if not multiline:
        assert "\n" not in out and "  " not in out


@given(texts, st.integers(min_value=0, max_value=50))
def test_text_never_accepts_over_length(value: str, limit: int) -> None:
    problems = Problems()
    out = validation.text(problems, "f", value, max_length=limit)
    assert (out is not None and len(out) <= limit) or any(
        p.code is ErrorCode.TOO_LONG for p in problems.items
    )


@given(st.lists(texts, max_size=40))
def test_tag_lists_are_unique_normalised_and_bounded(values: list[str]) -> None:
    problems = Problems()
    tags = validation.tag_list(problems, "interests", values, max_items=30, max_length=40)
    assert len(tags) == len(set(tags))
    assert all(t and t == validation.tag(t) and len(t) <= 40 for t in tags)
    if len(tags) > 30:
        assert any(p.code is ErrorCode.TOO_MANY for p in problems.items)


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80))
def test_only_https_urls_with_a_host_pass(value: str) -> None:
    problems = Problems()
    url = validation.https_url(problems, "u", value)
    if not problems:
        assert url.lower().startswith("https://") and "@" not in url.split("/")[2]


@given(
    st.integers(), st.integers(min_value=-10, max_value=10), st.integers(min_value=0, max_value=20)
)
def test_int_range(value: int, low: int, span: int) -> None:
    problems = Problems()
    validation.int_range(problems, "n", value, low, low + span)
    assert bool(problems) == (not low <= value <= low + span)


@given(st.floats(allow_nan=True))
def test_latitude_rejects_nan_and_out_of_range(value: float) -> None:
    problems = Problems()
    validation.float_range(problems, "lat", value, -90, 90)
    assert bool(problems) == (not -90 <= value <= 90)


@given(st.emails())
def test_valid_emails_are_accepted_and_case_folded(address: str) -> None:
    problems = Problems()
    out = validation.email(problems, "email", address)
    if not problems:
        assert out == out.lower()
        assert validation.email(Problems(), "email", out.upper()) == out
