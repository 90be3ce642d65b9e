"""Kubernetes quantity parsing (hooks/quantities.py) against a table of real quantity strings."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gosmith.template import rules

q = rules().quantities

VALID = [
    ("500m", Fraction(1, 2)),
    ("1.5", Fraction(3, 2)),
    ("2", Fraction(2)),
    ("0.5", Fraction(1, 2)),
    (".5", Fraction(1, 2)),
    ("5.", Fraction(5)),
    ("100m", Fraction(1, 10)),
    ("1m", Fraction(1, 1000)),
    ("512Mi", 512 * 1024**2),
    ("1Ki", 1024),
    ("0.5Gi", 512 * 1024**2),
    ("1.5Gi", 1536 * 1024**2),
    ("2Ti", 2 * 1024**4),
    ("1Pi", 1024**5),
    ("1Ei", 1024**6),
    ("1G", 10**9),
    ("100k", 100_000),
    ("128M", 128_000_000),
    ("1T", 10**12),
    ("1P", 10**15),
    ("1E", 10**18),  # E alone is the exa suffix
    ("2e3", 2000),
    ("1E3", 1000),  # E followed by digits is an exponent
    ("1e-3", Fraction(1, 1000)),
    ("1.5e+2", 150),
    ("0", 0),
    ("0.1m", Fraction(1, 10000)),
]

INVALID = [
    "1.5.5",
    "10MiB",
    "-1",
    "-500m",
    "+1",
    "abc",
    "",
    "1e",
    " 5",
    "5 ",
    "1 Gi",
    "1gi",
    "1KI",
    "1K",  # decimal kilo is lowercase k
    "Mi",
    ".",
    "1.e",
    "0x10",
    "1_000",
    "1,5",
    "10Mb",
    "1e99",
    "9Ei",  # beyond 2^63-1
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse_valid(text: str, expected: Fraction | int) -> None:
    assert q.parse(text) == expected


@pytest.mark.parametrize("text", INVALID)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(q.QuantityError):
        q.parse(text)


@pytest.mark.parametrize("value", [None, 5, 0.5, b"5", ["1"]])
def test_parse_rejects_non_strings(value: object) -> None:
    with pytest.raises(q.QuantityError):
        q.parse(value)


@pytest.mark.parametrize(
    ("text", "cores"),
    [("250m", Fraction(1, 4)), ("1", 1), ("1.5", Fraction(3, 2)), ("2000m", 2), ("1e-3", Fraction(1, 1000))],
)
def test_parse_cpu(text: str, cores: Fraction) -> None:
    assert q.parse_cpu(text) == cores


@pytest.mark.parametrize("text", ["0", "0m", "0.5m", "0.0001", "1e-4"])
def test_parse_cpu_rejects_zero_and_sub_millicore(text: str) -> None:
    with pytest.raises(q.QuantityError):
        q.parse_cpu(text)


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("512Mi", 536_870_912), ("1G", 1_000_000_000), ("1.5Gi", 1_610_612_736), ("129M", 129_000_000), ("500m", 1)],
)
def test_parse_memory_rounds_fractional_bytes_up(text: str, nbytes: int) -> None:
    assert q.parse_memory(text) == nbytes


@pytest.mark.parametrize(
    ("cores", "text"),
    [(Fraction(1, 2), "500m"), (Fraction(2), "2"), (Fraction(3, 2), "1500m"), (Fraction(1, 1000), "1m")],
)
def test_format_cpu(cores: Fraction, text: str) -> None:
    assert q.format_cpu(cores) == text


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(512 * 1024**2, "512Mi"), (1536 * 1024**2, "1536Mi"), (1024**3, "1Gi"), (1000, "1000"), (2048, "2Ki")],
)
def test_format_bytes(nbytes: int, text: str) -> None:
    assert q.format_bytes(nbytes) == text


def test_format_mib_rounds_down() -> None:
    assert q.format_mib(460 * q.MI + q.MI - 1) == "460MiB"


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi"]))
def test_parse_integer_with_suffix(n: int, suffix: str) -> None:
    factor = {"": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    assert q.parse(f"{n}{suffix}") == n * factor[suffix]


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=999))
def test_decimal_fraction_is_exact(whole: int, thousandths: int) -> None:
    assert q.parse(f"{whole}.{thousandths:03d}") == whole + Fraction(thousandths, 1000)


@given(st.text(max_size=12))
def test_parse_never_returns_nonsense(text: str) -> None:
    """Arbitrary text either parses to a non-negative exact value or raises QuantityError."""
    try:
        value = q.parse(text)
    except q.QuantityError:
        return
    assert isinstance(value, Fraction | int)
    assert 0 <= value <= q.MAX_QUANTITY
    assert text == text.strip() and text
