"""`--no-progress` for the bars that libraries draw themselves (transformers' "Loading weights")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["library_bars"]


@contextlib.contextmanager
def library_bars(enabled: bool) -> Iterator[None]:
    """Hide transformers' progress bars while the block runs when `enabled` is False; restore them after."""
    if enabled:
        yield
        return
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()
