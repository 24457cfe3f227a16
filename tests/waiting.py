"""Waiting on a condition with a deadline, never for a fixed time.

On a loaded 2-core machine a thread or process can take many times longer than on a quiet
one; a fixed sleep then fails the test, where a deadline only slows it down.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEADLINE = 300.0  # seconds: generous, a loaded 2-core machine can be ten times slower
EVERY = 0.05


def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Block until ``condition()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(EVERY)


async def wait_until(
    pilot, condition: Callable[[], object], what: str, timeout: float = DEADLINE
) -> None:
    """``wait_for`` inside a Textual pilot: the app keeps running while the test waits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(EVERY)
