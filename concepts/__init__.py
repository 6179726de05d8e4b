"""DACO concept dictionaries: vocabulary, stimulus retrieval, directions, labels, sparse coding, steering.

Submodules import their heavy dependencies lazily; `from concepts import decompose` does not load FAISS.
"""
from concepts.decompose import Decomposition, decompose
from concepts.dictionary_io import ConceptDictionary, load_dictionary, save_dictionary

__all__ = ["ConceptDictionary", "load_dictionary", "save_dictionary", "decompose", "Decomposition",
           "build_dictionary", "load_controller"]


def build_dictionary(config):
    """Run `curate build-dictionary` from Python with a `concepts.config.BuildConfig`; returns the manifest."""
    from concepts.build import run

    return run(config)


def load_controller(path, **options):
    """The steering controller of a dictionary (or SAE) folder; see `concepts.steering.load_controller`."""
    from concepts.steering import load_controller as load

    return load(path, **options)
