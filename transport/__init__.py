"""SOT: push-pull optimal-transport sample weights (docs/methods.md, SOT). Numeric kernels are pure torch functions.

Names load on first use (curate.lazy), so `import transport` and `from transport.config import SOTConfig` do not
import torch.
"""

from curate.lazy import lazy_exports

__all__ = [
    "SOTConfig", "run", "SinkhornResult", "SinkhornWarning", "sinkhorn", "sinkhorn_kernel", "PushPullResult",
    "PushPullIterate", "PushPullWarning", "push_pull", "cosine_cost", "normalize_rows", "knn_anchors", "SparseKernel",
    "StreamKernel", "compress_anchors", "uniform_weights", "heuristic_scores", "scores_to_weights", "ExportConfig",
    "export", "weighted_sampler",
]

lazy_exports(__name__, {
    "transport.config": ["SOTConfig"],
    "transport.baselines": ["heuristic_scores", "scores_to_weights", "uniform_weights"],
    "transport.compress": ["compress_anchors"],
    "transport.cost": ["cosine_cost", "normalize_rows"],
    "transport.export": ["ExportConfig", "export", "weighted_sampler"],
    "transport.pipeline": ["run"],
    "transport.pushpull": ["PushPullIterate", "PushPullResult", "PushPullWarning", "push_pull"],
    "transport.sinkhorn": ["SinkhornResult", "SinkhornWarning", "sinkhorn", "sinkhorn_kernel"],
    "transport.sparse": ["SparseKernel", "knn_anchors"],
    "transport.stream": ["StreamKernel"],
})
