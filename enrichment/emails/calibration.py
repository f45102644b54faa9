"""The finder's candidate probabilities turned into the chance that a guess is right.

A candidate's probability from :mod:`enrichment.emails.templates` is a model's belief; on the
realistic benchmark (``bench/pattern_accuracy.py --fit``) guesses are right somewhat more or
less often than it says. :data:`CALIBRATION` holds (model probability, observed share right)
points fitted there, monotone; :func:`calibrate` interpolates between them, so that a guess
scored 70 turns out right about 70 % of the time. The fit and the check use different seeds;
the check's table is in ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

from bisect import bisect_right

#: (model probability, share of first guesses right), from
#: ``bench/pattern_accuracy.py --domains 600 --seed 101 --fit``.
CALIBRATION: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (0.2002, 0.2505),
    (0.2664, 0.3149),
    (0.3116, 0.3952),
    (0.347, 0.5047),
    (0.3857, 0.5143),
    (0.4351, 0.5444),
    (0.489, 0.6023),
    (0.5868, 0.6323),
    (0.6522, 0.6866),
    (0.7664, 0.762),
    (1.0, 0.7664),
)


def calibrate(probability: float, table: tuple[tuple[float, float], ...] = CALIBRATION) -> float:
    """The chance that a guess with this model probability is right (0-1)."""
    p = min(1.0, max(0.0, probability))
    xs = [x for x, _ in table]
    index = bisect_right(xs, p)
    if index == 0:
        return table[0][1]
    if index == len(table):
        return table[-1][1]
    (x0, y0), (x1, y1) = table[index - 1], table[index]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (p - x0) / (x1 - x0)


def fit(pairs: list[tuple[float, bool]], bins: int = 12) -> tuple[tuple[float, float], ...]:
    """A monotone table from (model probability, right) pairs: equal-count bins, then pooled
    adjacent violators so a higher probability never means a lower share right."""
    ordered = sorted(pairs)
    if not ordered:
        raise ValueError("no guesses to fit a calibration on")
    size = max(1, len(ordered) // bins)
    blocks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    if len(blocks) > 1 and len(blocks[-1]) < size:
        blocks[-2:] = [blocks[-2] + blocks[-1]]  # no tiny last bin deciding the top of the scale
    # [sum of probabilities, right, count] per block, merged while they violate monotonicity.
    pooled: list[list[float]] = []
    for block in blocks:
        pooled.append([sum(p for p, _ in block), sum(r for _, r in block), len(block)])
        while len(pooled) > 1 and pooled[-2][1] / pooled[-2][2] > pooled[-1][1] / pooled[-1][2]:
            last = pooled.pop()
            pooled[-1] = [a + b for a, b in zip(pooled[-1], last, strict=True)]
    points = [(round(s / n, 4), round(r / n, 4)) for s, r, n in pooled]
    return ((0.0, 0.0), *points, (1.0, max(points[-1][1], points[-1][0])))
