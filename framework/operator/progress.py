"""A progress line on standard error for `rotate --all`: redrawn in place on a terminal, a
heartbeat line every 30 s otherwise (logs and pipes get no control characters).

No library: one line of text is all it draws. Every string passes through `redaction.scrub`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from smrotate import redaction
from smrotate.operator.watch import HEARTBEAT, span_s

WIDTH = 24
REDRAW = 0.2  # seconds between redraws on a terminal


class Progress:
    """`[#####-----] 120/950 done: 118 rotated, 2 failed; 10 running; 35 s` for `total`
    rotations, on `stream`, timed by `now` (seconds)."""

    def __init__(self, total: int, *, stream: TextIO, tty: bool, now: Callable[[], float]) -> None:
        self.total = total
        self.stream = stream
        self.tty = tty
        self.now = now
        self.started = now()
        self.drawn = False
        self.last = float("-inf")
        self.text = ""

    def line(self, done: int, rotated: int, failed: int, running: int) -> str:
        """The progress text (no bar when there is no terminal)."""
        elapsed = span_s(self.now() - self.started)
        text = (
            f"{done}/{self.total} done: {rotated} rotated, {failed} failed; {running} running; "
            f"{elapsed}"
        )
        if not self.tty:
            return text
        filled = WIDTH * done // self.total if self.total else WIDTH
        return f"[{'#' * filled}{'-' * (WIDTH - filled)}] {text}"

    def show(
        self, done: int, rotated: int, failed: int, running: int, *, force: bool = False
    ) -> None:
        """Redraw the bar (at most every 0.2 s, or now when `force`d), or write a heartbeat line
        every 30 s (`force` does not apply: a log gets no line per rotation)."""
        moment = self.now()
        every = REDRAW if self.tty else HEARTBEAT
        if not (force and self.tty) and moment - self.last < every:
            return
        self.last = moment
        self.text = self.line(done, rotated, failed, running)
        if self.tty:
            self._write(f"\r\x1b[K{self.text}")
            self.drawn = True
        else:
            self._write(f"{self.text}\n")

    def message(self, text: str) -> None:
        """A line of its own, above the bar on a terminal."""
        if self.drawn:
            self._write(f"\r\x1b[K{text}\n{self.text}")
        else:
            self._write(f"{text}\n")

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self.drawn:
            self._write("\r\x1b[K")
            self.drawn = False

    def _write(self, text: str) -> None:
        self.stream.write(redaction.scrub(text))
        self.stream.flush()
