"""Figures the fault, scale-out and bad-input tests count, printed at the end of the run
(the numbers docs/security.md and the closing notes report)."""

from collections import Counter

FIGURES: Counter[str] = Counter()
