"""Package exports that load on first use, so importing a package (and `curate --help`) pulls in no torch.

    # at the end of transport/__init__.py
    lazy_exports(__name__, {"transport.sinkhorn": ["sinkhorn", "SinkhornResult"], ...})

`from transport import sinkhorn` then imports transport/sinkhorn.py when the name is first read, and returns the
same object an eager `from transport.sinkhorn import sinkhorn` in __init__ would have bound.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["LazyPackage", "lazy_exports"]


class LazyPackage(types.ModuleType):
    """A package module whose exported names are imported from their home modules when first read."""

    _lazy_homes: dict[str, str]

    def __getattr__(self, name: str):
        home = self._lazy_homes.get(name)
        if home is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        super().__setattr__(name, value)
        return value

    def __setattr__(self, name: str, value) -> None:
        # Loading transport/sinkhorn.py binds the submodule onto the package as `sinkhorn`; the exported function
        # of that name must keep winning, as it does when __init__ imports it eagerly after the submodule.
        if name in self._lazy_homes and isinstance(value, types.ModuleType) \
                and value.__name__ == f"{self.__name__}.{name}":
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._lazy_homes))


def lazy_exports(package: str, homes: dict[str, list[str]]) -> None:
    """Make `package` (pass __name__) load each name of `homes` ({module: [names]}) from its module on first use.

    Every name in the package's __all__ must be defined in __init__ already or be listed here.
    """
    module = sys.modules[package]
    by_name = {name: home for home, names in homes.items() for name in names}
    missing = [name for name in getattr(module, "__all__", []) if name not in by_name and name not in vars(module)]
    if missing:
        raise ImportError(f"{package}.__all__ names {missing} but lazy_exports gives them no home module; add them")
    module._lazy_homes = by_name
    module.__class__ = LazyPackage
