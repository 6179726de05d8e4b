"""User-facing errors: the CLI prints their message without a traceback."""

__all__ = ["CurateError", "InputError", "ConfigError", "MissingDependencyError"]


class CurateError(Exception):
    """Base class for errors that are the user's to fix; the message names the input and the fix."""


class InputError(CurateError, ValueError):
    """Bad input data: a missing file, field, malformed row, mismatched embeddings."""


class ConfigError(CurateError, ValueError):
    """An option or option combination that cannot work."""


class MissingDependencyError(CurateError, ImportError):
    """An optional dependency is not installed."""


def require(module: str, pip_name: str | None = None, extra: str | None = None):
    """Import an optional dependency or raise an error that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        hint = f"pip install 'safecurate[{extra}]'" if extra else f"pip install {pip_name or module}"
        raise MissingDependencyError(f"{module} is needed for this feature but is not installed: {hint}") from err
