"""SOT: push-pull optimal-transport sample weights (docs/methods.md, SOT). Numeric kernels are pure torch functions."""

from transport.config import SOTConfig
from transport.baselines import heuristic_scores, scores_to_weights, uniform_weights
from transport.compress import compress_anchors
from transport.cost import cosine_cost, normalize_rows
from transport.export import ExportConfig, export, weighted_sampler
from transport.pipeline import run
from transport.pushpull import PushPullResult, push_pull
from transport.sinkhorn import SinkhornResult, SinkhornWarning, sinkhorn, sinkhorn_kernel
from transport.sparse import SparseKernel, knn_anchors
from transport.stream import StreamKernel

__all__ = [
    "SOTConfig", "run", "SinkhornResult", "SinkhornWarning", "sinkhorn", "sinkhorn_kernel", "PushPullResult",
    "push_pull", "cosine_cost", "normalize_rows", "knn_anchors", "SparseKernel", "StreamKernel",
    "compress_anchors", "uniform_weights", "heuristic_scores", "scores_to_weights", "ExportConfig", "export",
    "weighted_sampler",
]
