"""Exact parsing of Kubernetes resource quantities (`500m`, `1.5`, `512Mi`, `1G`, `2e3`) without floats.

Grammar (k8s.io/apimachinery resource.Quantity)::

    <quantity>        ::= <signedNumber><suffix>
    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>

Resource requests and limits cannot be negative, so a sign on the number is rejected here; the
exponent may carry one (`1e-3`).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

MI = 1024 * 1024

_BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6}
_DECIMAL = {
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(
    r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|[eE](?P<exp>[+-]?[0-9]+)|(?P<decimal>[mkMGTPE]?))"
)
#: Largest magnitude a Kubernetes quantity can hold (2^63 - 1).
MAX_QUANTITY = 2**63 - 1
#: Exponents beyond this are rejected before computing 10**exp (anything that large overflows anyway).
_MAX_EXPONENT = 30


class QuantityError(ValueError):
    """A string is not a valid non-negative Kubernetes quantity (the message says why)."""


def parse(text: object, what: str = "quantity") -> Fraction:
    """Return the exact value of the Kubernetes quantity `text` (e.g. '500m' -> 1/2, '1Ki' -> 1024)."""
    if not isinstance(text, str):
        raise QuantityError(f"{what} must be a string like '500m' or '512Mi', got {text!r}")
    m = _QUANTITY.fullmatch(text)
    if not m:
        raise QuantityError(f"{what} {text!r} is not a Kubernetes quantity (examples: 500m, 1.5, 2, 512Mi, 1G, 2e3)")
    number = Fraction(m["number"] + ("0" if m["number"].endswith(".") else ""))
    if m["binary"]:
        value = number * _BINARY[m["binary"]]
    elif m["exp"] is not None:
        exp = int(m["exp"])
        if abs(exp) > _MAX_EXPONENT:
            raise QuantityError(f"{what} {text!r}: exponent {exp} is out of range")
        value = number * Fraction(10) ** exp
    else:
        value = number * _DECIMAL[m["decimal"]]
    if value > MAX_QUANTITY:
        raise QuantityError(f"{what} {text!r} is larger than a Kubernetes quantity can hold (2^63-1)")
    return value


def parse_cpu(text: object, what: str = "cpu") -> Fraction:
    """Return CPU cores for `text`; it must be positive and a whole number of millicores."""
    value = parse(text, what)
    if value <= 0:
        raise QuantityError(f"{what} {text!r} must be greater than zero")
    if (value * 1000).denominator != 1:
        raise QuantityError(f"{what} {text!r} is finer than 1m (Kubernetes allows at most 0.001 CPU precision)")
    return value


def parse_memory(text: object, what: str = "memory") -> int:
    """Return bytes for `text` (fractions of a byte round up, as Kubernetes does); it must be positive."""
    value = parse(text, what)
    if value <= 0:
        raise QuantityError(f"{what} {text!r} must be greater than zero")
    return math.ceil(value)


def format_cpu(cores: Fraction) -> str:
    """Return a canonical CPU string: whole cores as '2', otherwise millicores as '1500m'."""
    if cores.denominator == 1:
        return str(cores.numerator)
    return f"{math.ceil(cores * 1000)}m"


def format_bytes(n: int) -> str:
    """Return `n` bytes in the largest exact binary unit (Kubernetes spelling: '512Mi', '1536Mi', '100')."""
    for suffix, size in reversed(_BINARY.items()):
        if n and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


def format_mib(n: int) -> str:
    """Return `n` bytes rounded down to whole MiB in Go's GOMEMLIMIT spelling ('460MiB')."""
    return f"{n // MI}MiB"
