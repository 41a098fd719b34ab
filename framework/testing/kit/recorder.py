"""What the cases saw: values that must never leak, error messages, and the kit's counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TOTALS: Counter[str] = Counter()  # across the pytest session, for the summary line


@dataclass
class Recorder:
    """Per test: sensitive values seen, error messages raised, counts (added to TOTALS)."""

    seen_values: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    in_summary: bool = True  # False for the kit's own self-tests, which fail on purpose

    def count(self, what: str, n: int = 1) -> None:
        """Add to this test's counts and, when `in_summary`, the session's."""
        self.counts[what] += n
        if self.in_summary:
            TOTALS[what] += n

    def leaks(self, texts: dict[str, str]) -> list[str]:
        """Where (by text name, never the value) a seen value appears in `texts`."""
        found = []
        for where, text in texts.items():
            for value in self.seen_values:
                if len(value) >= 4 and value in text:
                    found.append(where)
                    break
        return found
