"""Whether long loops show their progress bar (tqdm, on stderr): yes, unless a caller says no.

A dataset builder's options say what the dataset is and a training
schedule what is trained; whether their loops draw a bar is the caller's
business (``zooselect rank --quiet``), so it is a context around the call,
not an option of each function in between. Workflow jobs keep the default:
their bars go to the rule's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_SHOW: ContextVar[bool] = ContextVar("zooselect_progress", default=True)


def show_progress() -> bool:
    """Whether a loop started now should show its bar."""
    return _SHOW.get()


@contextmanager
def progress_bars(show: bool) -> Iterator[None]:
    """Within the block, loops show their bars if ``show`` (and hide them if not)."""
    token = _SHOW.set(bool(show))
    try:
        yield
    finally:
        _SHOW.reset(token)
