"""DACO concept dictionaries (only the contract-4 I/O is implemented so far)."""
from concepts.dictionary_io import ConceptDictionary, load_dictionary, save_dictionary

__all__ = ["ConceptDictionary", "load_dictionary", "save_dictionary"]
