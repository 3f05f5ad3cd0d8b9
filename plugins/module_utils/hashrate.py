# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ckpool hashrate strings: parsing and formatting.

Runs on the managed host (Python 3.6+, standard library only).  ckpool writes
hashrates with its ``suffix_string()``: ``"114"``, ``"8.71M"``, ``"21.3K"``;
:func:`parse_hashrate` turns them into floats in H/s and
:func:`format_hashrate` writes them back the way ckpool does.

The ckpool-lhr fork (low-hashrate miners) extends ``suffix_string()`` below
1 H/s with ``m``, ``u`` and ``n`` (milli, micro, nano: ``"500m"`` = 0.5 H/s)
and prints 1..999 H/s with ``"%.3g"`` (``"1.5"``, ``"115"``); both are read, and
values below 1 H/s are written with those suffixes.
"""

import math
import re

_SI_EXPONENTS = {
    '': 0, 'K': 3, 'M': 6, 'G': 9, 'T': 12, 'P': 15, 'E': 18,
    # ckpool-lhr's suffix_string(): below 1 H/s (case matters: m is milli, M is mega)
    'm': -3, 'u': -6, 'n': -9,
}

_HASHRATE_RE = re.compile(
    r'^\s*(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)'
    r'\s*(?P<suffix>[KMGTPEmun]?)(?:H/s)?\s*$'
)


def parse_hashrate(value):
    """Convert a ckpool hashrate to a float in H/s.

    Accepts what ckpool's ``suffix_string()`` writes: a plain number
    (``"114"``, ``"0"``, ckpool-lhr's ``"1.5"``) or a number with one SI suffix
    ``K M G T P E`` (powers of 1000: ``"8.71M"`` -> ``8710000.0``), including
    its rare exponent form (``"1e+03K"``), or, from ckpool-lhr, one of ``m u n``
    (milli, micro, nano: ``"500m"`` -> ``0.5``).  Surrounding blanks and a trailing ``H/s``
    (``"8.71MH/s"``) are tolerated.  Ints and floats pass through as floats.
    The suffix is applied to the decimal exponent before the one conversion to
    binary (``float("8.71e6")``, correctly rounded), so ``"8.71M"`` gives the
    double nearest to 8 710 000, not ``8.71 * 1e6``.

    :raises ValueError: for anything else (empty, negative, NaN, unknown or
        lower-case suffix, bool, None), with the offending value in the message.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError('not a hashrate: %r' % (value,))
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            raise ValueError('hashrate out of range: %r' % (value,))
        if not math.isfinite(result) or result < 0:
            raise ValueError('not a hashrate: %r' % (value,))
        return result
    if isinstance(value, bytes):
        try:
            value = value.decode('ascii')
        except UnicodeDecodeError:
            raise ValueError('not a hashrate: %r' % (value,))
    if not isinstance(value, str):
        raise ValueError('not a hashrate: %r (type %s)' % (value, type(value).__name__))
    cached = _PARSED_HASHRATES.get(value)
    if cached is not None:
        return cached
    result = _parse_hashrate_text(value)
    # ckpool writes few distinct strings (3 significant digits): a 100 000-user read
    # parses the same ones over and over.  Bounded so hostile input cannot grow it.
    if len(_PARSED_HASHRATES) < 65536:
        _PARSED_HASHRATES[value] = result
    return result


_PARSED_HASHRATES = {}


def _parse_hashrate_text(value):
    """The string case of :func:`parse_hashrate`, uncached."""
    match = _HASHRATE_RE.match(value)
    if not match:
        raise ValueError('not a hashrate: %r (expected a number with an optional K/M/G/T/P/E or m/u/n suffix)'
                         % (value,))
    mantissa, dummy, exponent = match.group('num').lower().partition('e')
    shift = _SI_EXPONENTS[match.group('suffix')] + (int(exponent) if exponent else 0)
    try:
        result = float('%se%d' % (mantissa, shift))
    except (OverflowError, ValueError):  # pragma: no cover - the regex only lets valid decimals through
        raise ValueError('not a hashrate: %r' % (value,))
    if not math.isfinite(result):
        raise ValueError('hashrate out of range: %r' % (value,))
    return result


def format_hashrate(value):
    """Format H/s the way ckpool writes hashrates (its ``suffix_string(val, ..., 0)``).

    Mirrors ckpool's C code exactly:

    * from 1 to below 1000: the integer part only, truncated, no suffix
      (``114.9`` -> ``"114"``), as upstream ckpool;
    * below 1 H/s: ckpool-lhr's ``"%.3g"`` with ``m``, ``u`` or ``n``
      (``0.5`` -> ``"500m"``, ``2.5e-6`` -> ``"2.5u"``); ``"0"`` below 1 nH/s;
    * otherwise divide into the largest unit K, M, G, T, P, E (powers of 1000,
      in the same order of divisions as ckpool) and print ``"%.3g"`` plus the
      suffix: three significant digits, trailing zeros dropped
      (``8710000`` -> ``"8.71M"``, ``21300`` -> ``"21.3K"``, ``1e6`` -> ``"1M"``).
      Like ckpool, a value that rounds up to 1000 of a unit keeps that unit in
      exponent form (``999600`` -> ``"1e+03K"``); :func:`parse_hashrate`
      reads that back.

    A string is first parsed with :func:`parse_hashrate`, so formatting is
    idempotent (``"8.71M"`` -> ``"8.71M"``).

    :raises ValueError: for negative, NaN, infinite or non-numeric input.
    """
    if isinstance(value, (str, bytes)):
        val = parse_hashrate(value)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('not a hashrate: %r' % (value,))
    else:
        try:
            val = float(value)
        except OverflowError:
            raise ValueError('hashrate out of range: %r' % (value,))
    if not math.isfinite(val) or val < 0:
        raise ValueError('not a hashrate: %r' % (value,))

    kilo = 1000.0
    mega = 1000000.0
    giga = 1000000000.0
    tera = 1000000000000.0
    peta = 1000000000000000.0
    exa = 1000000000000000000.0
    if val >= exa:
        dval = val / peta / kilo
        suffix = 'E'
    elif val >= peta:
        dval = val / tera / kilo
        suffix = 'P'
    elif val >= tera:
        dval = val / giga / kilo
        suffix = 'T'
    elif val >= giga:
        dval = val / mega / kilo
        suffix = 'G'
    elif val >= mega:
        dval = val / kilo / kilo
        suffix = 'M'
    elif val >= kilo:
        dval = val / kilo
        suffix = 'K'
    elif val >= 1:
        return '%d' % int(val)
    elif val >= 0.001:
        dval = val / 0.001
        suffix = 'm'
    elif val >= 0.000001:
        dval = val / 0.000001
        suffix = 'u'
    elif val >= 0.000000001:
        dval = val / 0.000000001
        suffix = 'n'
    else:
        return '0'
    return '%.3g%s' % (dval, suffix)
