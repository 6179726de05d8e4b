"""curate.lazy: package names load on first use and mean what an eager __init__ would have bound."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

from curate.lazy import lazy_exports

LAZY_PACKAGES = ("transport", "concepts", "train.mosaic", "train.sae", "train.sft", "curate.lm", "curate.evaluation")


def test_packages_and_their_configs_import_without_torch():
    code = ("import sys, transport, concepts, train.mosaic, train.sae, train.sft, curate.lm, curate.evaluation\n"
            "from transport.config import SOTConfig\nfrom concepts.config import BuildConfig\n"
            "from train.cast.run import CastConfig\nfrom train.mosaic import MosaicConfig\n"
            "from train.sae import SAEConfig\n"
            "print(sorted(m for m in ('torch', 'faiss', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_is_its_home_modules_object(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        home = module._lazy_homes.get(name)
        if home is not None:
            assert value is getattr(importlib.import_module(home), name), f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))


def test_a_name_shared_with_a_submodule_stays_the_export():
    import train.sae.run  # noqa: F401 - loads the submodule that shares the exported function's name
    import transport.sinkhorn  # noqa: F401
    from train.sae import run
    from transport import export, sinkhorn

    assert not isinstance(run, types.ModuleType) and run.__module__ == "train.sae.run"
    assert callable(sinkhorn) and sinkhorn.__module__ == "transport.sinkhorn"
    assert callable(export) and export.__module__ == "transport.export"


def test_run_stays_the_function_after_its_submodule_loads():
    # `curate train sft` refused a finished run with a TypeError ('module' object is not callable) once the first
    # call had loaded train/sft/run.py; curate.evaluation's `run` shares its name with a submodule the same way
    import curate.evaluation.run  # noqa: F401
    import train.sft.run  # noqa: F401
    from curate.evaluation import run as eval_run
    from train.sft import run as sft_run

    assert callable(eval_run) and eval_run.__module__ == "curate.evaluation.run"
    assert callable(sft_run) and sft_run.__module__ == "train.sft.config"


def test_submodules_and_unknown_names():
    from train.sae import fit  # a submodule that is no export still imports as one

    assert isinstance(fit, types.ModuleType) and fit.__name__ == "train.sae.fit"
    with pytest.raises(AttributeError, match="module 'transport' has no attribute 'no_such_name'"):
        importlib.import_module("transport").no_such_name  # noqa: B018


def test_an_exported_name_without_a_home_is_an_import_error(monkeypatch):
    fake = types.ModuleType("fake_package")
    fake.__all__ = ["defined", "forgotten"]
    fake.defined = 1
    monkeypatch.setitem(sys.modules, "fake_package", fake)
    with pytest.raises(ImportError, match=r"fake_package.__all__ names \['forgotten'\] but lazy_exports"):
        lazy_exports("fake_package", {"fake_package.other": ["unused"]})
