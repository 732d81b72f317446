"""Confidence intervals and paired tests, derived by hand (no scipy at run time).

- ``wilson`` / ``proportion``: the Wilson score interval of a proportion k/n.
- ``bootstrap_kappa``: a seeded percentile bootstrap of Cohen's kappa over a joint label table.
- ``exact_binomial_two_sided``, ``mcnemar_exact``, ``sign_test``: exact two-sided tests at p = 0.5,
  with the counts they rest on and a verdict in plain words.

"Small" means fewer than ``SMALL`` items everywhere: the figure is shown, with a caveat.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping
from typing import Any


Z95 = 1.959964
SMALL = 30  # below this, a figure is flagged "small sample"
TOO_FEW = 10  # below this many discordant pairs / decided preferences, a test gives no verdict
ALPHA = 0.05
_EXACT_SUM_MAX = 2000  # up to this n the binomial tail is summed in exact integers


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n trials; None when n == 0."""
    if n <= 0:
        return None
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Clamp float noise, so k == 0 gives exactly 0 and k == n exactly 1.
    return max(0.0, centre - half) if k else 0.0, min(1.0, centre + half) if k != n else 1.0


def proportion(k: int, n: int) -> dict[str, Any]:
    """k of n with its value, 95% Wilson interval and whether the sample is small."""
    interval = wilson(k, n)
    return {"k": k, "n": n, "value": k / n if n else None,
            "low": interval[0] if interval else None, "high": interval[1] if interval else None,
            "small": n < SMALL}


# ---- binomial sampling (seeded, exact) -------------------------------------------------------

def binomial_variate(rng: random.Random, n: int, p: float) -> int:
    """One draw from Binomial(n, p) using only ``rng.random()``, so a seed reproduces it on any Python.

    The algorithm of Python 3.12's ``random.binomialvariate`` (not in 3.11): the geometric waiting
    time method when n·p < 10 (O(n·p)), else Hörmann's BTRS transformed rejection (exact, O(1)
    expected), so a round of the bootstrap costs O(cells) whatever n is."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial_variate(rng, n, 1.0 - p)
    if n * p < 10.0:
        x = y = 0
        c = math.log2(1.0 - p)
        if not c:
            return 0
        while True:
            y += math.floor(math.log2(1.0 - rng.random()) / c) + 1  # 1 - random() is never 0
            if y > n:
                return x
            x += 1
    return _btrs(rng, n, p)


def _btrs(rng: random.Random, n: int, p: float) -> int:
    # Hörmann (1993), "The generation of binomial random variates", as in CPython 3.12; the
    # rejection step's constants are computed only when the cheap squeeze test fails (~1 in 7).
    uniform = rng.random
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    vr = 0.92 - 4.2 / b
    setup: tuple[float, float, int, float] | None = None
    while True:
        u = uniform() - 0.5
        us = 0.5 - abs(u)
        if us <= 0.0:
            continue
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        v = uniform()
        if us >= 0.07 and v <= vr:
            return k
        if setup is None:
            m = math.floor((n + 1) * p)
            setup = ((2.83 + 5.1 / b) * spq, math.log(p / (1.0 - p)), m,
                     math.lgamma(m + 1) + math.lgamma(n - m + 1))
        alpha, lpq, mode, h = setup
        v *= alpha / (a / (us * us) + b)
        if v > 0.0 and math.log(v) <= h - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - mode) * lpq:
            return k


# Above this variance a binomial draw is a rounded normal one: its skew, |1 − 2p| / sd < 3%, is far
# below the bootstrap's own Monte Carlo error, and it costs a third of an exact draw in Python (the
# panel at 200K records draws ~170K of them). Below it, draws are exact (waiting time or BTRS).
NORMAL_VARIANCE = 1000.0


def multinomial_counts(rng: random.Random, n: int, weights: list[int]) -> list[int]:
    """n items spread over cells in proportion to ``weights``: sequential conditional binomials."""
    left, mass = n, sum(weights)
    counts = []
    gauss = rng.gauss
    for w in weights[:-1]:
        if mass <= 0 or left <= 0:
            x = 0
        else:
            p = w / mass
            variance = left * p * (1.0 - p)
            if variance >= NORMAL_VARIANCE:
                x = min(left, max(0, round(left * p + math.sqrt(variance) * gauss())))
            else:
                x = binomial_variate(rng, left, p)
        counts.append(x)
        left -= x
        mass -= w
    counts.append(left)
    return counts


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _table_kappa(cells: list[tuple[tuple[Hashable, Hashable], int]], drawn: list[int], n: int) -> float | None:
    """metrics.kappa_from_counts of the table with ``drawn`` counts in ``cells``' places: the same
    integer formula, without building a Counter per round."""
    if n <= 0:
        return None
    agree = 0
    marg_a: dict[Hashable, int] = {}
    marg_b: dict[Hashable, int] = {}
    for ((a, b), _), x in zip(cells, drawn, strict=True):
        if x:
            marg_a[a] = marg_a.get(a, 0) + x
            marg_b[b] = marg_b.get(b, 0) + x
            if a == b:
                agree += x
    chance = sum(c * marg_b.get(k, 0) for k, c in marg_a.items())
    if chance == n * n:
        return 1.0 if agree == n else None
    return (agree * n - chance) / (n * n - chance)


_BOOTSTRAP_CACHE: dict[tuple, tuple[float, float] | None] = {}
_BOOTSTRAP_CACHE_MAX = 512


def bootstrap_kappa(joint: Mapping[tuple[Hashable, Hashable], int], n: int, *, seed: int = 16,
                    rounds: int = 1000) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of Cohen's kappa over the joint label table ``joint``.

    Each round draws n records from the table (multinomially, the same as resampling records with
    replacement) and recomputes kappa. Seeded: the same table and seed give the same interval.
    None when n < 2 or kappa is undefined in most rounds."""
    cells = sorted(((key, int(c)) for key, c in joint.items() if c > 0), key=lambda kc: repr(kc[0]))
    if n < 2 or not cells:
        return None
    cache_key = (tuple(cells), n, seed, rounds)
    if cache_key in _BOOTSTRAP_CACHE:
        return _BOOTSTRAP_CACHE[cache_key]
    rng = random.Random(seed)
    weights = [c for _, c in cells]
    values = [k for k in (_table_kappa(cells, multinomial_counts(rng, n, weights), n) for _ in range(rounds))
              if k is not None]
    interval = None
    if 2 * len(values) > rounds:
        values.sort()
        interval = (_percentile(values, 0.025), _percentile(values, 0.975))
    if len(_BOOTSTRAP_CACHE) >= _BOOTSTRAP_CACHE_MAX:
        _BOOTSTRAP_CACHE.clear()
    _BOOTSTRAP_CACHE[cache_key] = interval
    return interval


# ---- exact tests ----------------------------------------------------------------------------

def exact_binomial_two_sided(k: int, n: int) -> float:
    """Two-sided exact binomial p-value of k successes in n at p = 0.5 (as scipy.stats.binomtest):
    the probability of every outcome no more likely than the one observed."""
    if n <= 0:
        return 1.0
    m = min(k, n - k)
    if 2 * m == n:
        return 1.0
    if n <= _EXACT_SUM_MAX:
        tail = sum(math.comb(n, i) for i in range(m + 1))
        return min(1.0, 2 * tail / 2 ** n)
    # Large n: sum the tail in logs from its largest term down until the terms stop mattering.
    log_half_n = n * math.log(2.0)
    top = math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1) - log_half_n
    total = 0.0
    log_term = top
    i = m
    while i >= 0:
        term = math.exp(log_term - top)
        total += term
        if term < 1e-17 * total or i == 0:
            break
        log_term += math.log(i) - math.log(n - i + 1)  # C(n, i-1) / C(n, i) = i / (n - i + 1)
        i -= 1
    return min(1.0, 2.0 * math.exp(top) * total)


def format_p(p: float) -> str:
    """"p < 0.001", "p = 0.002", "p = 0.66"."""
    if p < 0.001:
        return "p < 0.001"
    if p >= 0.995:
        return "p = 1"
    return f"p = {p:.2f}" if p >= 0.1 else f"p = {p:.3f}"


def _paired(a: int, b: int, names: tuple[str, str], unit: str, what: str) -> dict[str, Any]:
    n = a + b
    p = exact_binomial_two_sided(a, n)
    if n < TOO_FEW:
        verdict = f"too few to tell: {n} {what}"
    elif p < ALPHA:
        winner, hi, lo = (names[0], a, b) if a > b else (names[1], b, a)
        verdict = f"{winner} is better: {hi} vs {lo} {unit}, {format_p(p)}"
    else:
        verdict = f"no evidence of a difference ({a} vs {b}, {format_p(p)})"
    return {"a": a, "b": b, "n": n, "p": p, "verdict": verdict, "small": n < SMALL}


def mcnemar_exact(b: int, c: int, names: tuple[str, str] = ("A", "B")) -> dict[str, Any]:
    """Exact McNemar test on paired right/wrong: b = records A got right and B wrong, c = the reverse."""
    return _paired(b, c, names, "discordant", "discordant")


def sign_test(wins_a: int, wins_b: int, names: tuple[str, str] = ("A", "B")) -> dict[str, Any]:
    """Sign test on preferences: records where A was preferred vs B (ties and all-bad left out)."""
    return _paired(wins_a, wins_b, names, "preferred", "decided preferences")


def paired_difference(both: int, first_only: int, second_only: int, neither: int) -> dict[str, Any]:
    """The difference of two paired proportions (first − second) over the same n items, with
    Newcombe's 95% interval (1998, method 10: Wilson intervals of both, combined with the pairs'
    correlation). ``first_only`` = items only the first got right, ``second_only`` the reverse."""
    n = both + first_only + second_only + neither
    if n == 0:
        return {"n": 0, "value": None, "low": None, "high": None, "small": True}
    p1, p2 = (both + first_only) / n, (both + second_only) / n
    l1, u1 = wilson(both + first_only, n) or (0.0, 1.0)
    l2, u2 = wilson(both + second_only, n) or (0.0, 1.0)
    margins = (both + first_only) * (second_only + neither) * (both + second_only) * (first_only + neither)
    phi = (both * neither - first_only * second_only) / math.sqrt(margins) if margins else 0.0
    value = p1 - p2
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return {"n": n, "value": value, "low": max(-1.0, value - below), "high": min(1.0, value + above),
            "small": n < SMALL}
