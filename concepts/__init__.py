"""DACO concept dictionaries: vocabulary, stimulus retrieval, directions, labels, sparse coding, steering.

Names load on first use (curate.lazy): `import concepts` imports neither torch nor FAISS.
"""

from curate.lazy import lazy_exports

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


lazy_exports(__name__, {
    "concepts.decompose": ["Decomposition", "decompose"],
    "concepts.dictionary_io": ["ConceptDictionary", "load_dictionary", "save_dictionary"],
})
