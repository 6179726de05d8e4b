"""`--no-progress` for the bars that libraries draw themselves (transformers' "Loading weights").

The loaders of curate.models take a `progress` option themselves; this is the same switch for a command that
wraps its whole run in it (diagnose-heads, train mosaic).
"""

from curate.models import transformers_bars as library_bars

__all__ = ["library_bars"]
