"""CUDA paths agree with the CPU ones. Skipped on machines without a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import requires_cuda

pytestmark = [pytest.mark.gpu, requires_cuda]


def test_sinkhorn_cuda_matches_cpu():
    import torch

    from transport.sinkhorn import sinkhorn

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 16)), rng.normal(size=(120, 16))
    cost = torch.cdist(torch.tensor(x), torch.tensor(y)) ** 2
    cost = cost / cost.max()
    a, b = torch.full((300,), 1 / 300, dtype=torch.float64), torch.full((120,), 1 / 120, dtype=torch.float64)
    cpu = sinkhorn(a, b, cost, 0.05, max_iter=2000, tol=1e-9)
    gpu = sinkhorn(a.cuda(), b.cuda(), cost.cuda(), 0.05, max_iter=2000, tol=1e-9)
    assert gpu.f.device.type == "cuda"
    assert abs(cpu.value - gpu.value) < 1e-8
    torch.testing.assert_close(gpu.f.cpu() - gpu.f.mean().cpu(), cpu.f - cpu.f.mean(), atol=1e-6, rtol=0)


def test_omp_cuda_matches_cpu():
    import torch

    from concepts.decompose import decompose

    torch.manual_seed(0)
    atoms = torch.nn.functional.normalize(torch.randn(64, 32, dtype=torch.float64), dim=1)
    x = torch.randn(50, 32, dtype=torch.float64)
    cpu = decompose(x, atoms, k=5, method="omp")
    gpu = decompose(x.cuda(), atoms.cuda(), k=5, method="omp")
    assert gpu.codes.device.type == "cuda"
    torch.testing.assert_close(gpu.codes.cpu(), cpu.codes, atol=1e-8, rtol=0)


def test_embed_text_cuda_matches_cpu(tmp_path, tiny_bert, char_tokenizer):
    pytest.importorskip("pyarrow")  # the embed stage writes Parquet (bench/gpu/check.sh may run without it)
    from embed import EmbedConfig, read_embeddings, run

    model_dir = tmp_path / "tiny-bert"
    tiny_bert.save_pretrained(model_dir)
    char_tokenizer.save_pretrained(model_dir)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(f'{{"id": "r{i}", "prompt": "question {i} about word {i * 7}"}}\n' for i in range(40)))
    out = {}
    for device in ("cpu", "cuda"):
        run(EmbedConfig(inputs=(str(rows),), out=tmp_path / device, model=str(model_dir), device=device,
                        progress=False))
        out[device] = read_embeddings(tmp_path / device).vectors
    assert np.abs(out["cpu"] - out["cuda"]).max() < 1e-4


def _unit(rng, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_faiss_gpu_knn_matches_cpu():
    """FAISS on the GPU (faiss-gpu) gives the CPU's kNN graph up to float rounding and ties."""
    import torch

    pytest.importorskip("faiss")
    from transport.dask_kernels import faiss_gpu_count, knn_graph

    if faiss_gpu_count() == 0:
        pytest.skip("this FAISS has no GPU support (install faiss-gpu)")
    rng = np.random.default_rng(0)
    x, y = _unit(rng, 6000, 48), _unit(rng, 900, 48)
    cost_cpu, idx_cpu = knn_graph(x, y, 16, device=torch.device("cpu"))
    cost_gpu, idx_gpu = knn_graph(x, y, 16, device=torch.device("cuda"))
    assert np.abs(cost_gpu - cost_cpu).max() < 1e-4
    assert (idx_gpu == idx_cpu).mean() > 0.999


def _sot_problem():
    rng = np.random.default_rng(1)
    centers = _unit(rng, 6, 32)

    def draw(k, clusters):
        x = centers[rng.choice(clusters, k)] + 0.2 * rng.standard_normal((k, 32)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return np.vstack([draw(1900, [0, 1, 2, 3]), draw(100, [4, 5])]), draw(300, [0, 1, 2, 3]), draw(200, [4, 5])


def _push_pull_on(device_name: str, solver: str, x, safe, harmful):
    """SOT weights as `curate sot-weight --solver SOLVER --dtype float64` computes them, on one device."""
    import torch

    from transport.dask_kernels import KernelSettings, build_kernel
    from transport.pushpull import push_pull

    settings = KernelSettings(solver, eps=0.05, knn=8, device=device_name, dtype="float64")
    kernels = [build_kernel(x, y, settings) for y in (safe, harmful)]
    masses = [np.full(len(y), 1.0 / len(y)) for y in (safe, harmful)]
    rho = 0.1 if solver == "sparse" else None
    return push_pull(*kernels, *masses, rho=rho, max_outer=5, dtype=torch.float64, device=settings.torch_device,
                     warn=False)


@pytest.mark.parametrize("solver", ["sparse", "stream"])
def test_sot_solve_cuda_matches_cpu(solver):
    """Both large-n kernels and the push-pull learner on the GPU: the CPU's weights (float64, same iterations)."""
    if solver == "sparse":
        pytest.importorskip("faiss")
    x, safe, harmful = _sot_problem()
    cpu, gpu = (_push_pull_on(device, solver, x, safe, harmful) for device in ("cpu", "cuda"))
    assert gpu.outer_iterations == cpu.outer_iterations
    np.testing.assert_allclose(gpu.weights, cpu.weights, rtol=0, atol=1e-6)


def test_dask_workers_solve_on_their_gpu():
    """--device cuda applies on the workers: their kernels live on the GPU and the weights equal the CPU's."""
    import torch

    distributed = pytest.importorskip("distributed")
    from transport.dask_kernels import KernelSettings
    from transport.dask_pushpull import sharded_push_pull
    from transport.dask_shards import array_shards
    from transport.distributed import ShardedCorpus

    x, safe, harmful = _sot_problem()
    cpu = _push_pull_on("cpu", "stream", x, safe, harmful)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        corpus = ShardedCorpus(client, array_shards(x, rows=700))
        isolated = corpus.build_kernels({"pull": safe, "push": harmful},
                                        KernelSettings("stream", eps=0.05, device="cuda", dtype="float64"))
        masses = [np.full(len(y), 1.0 / len(y)) for y in (safe, harmful)]
        gpu = sharded_push_pull(corpus, *masses, eps=0.05, isolated=isolated, max_outer=5, dtype=torch.float64,
                                warn=False)
        devices = corpus.call("device")
    assert [d[:4] for d in devices] == ["cuda"] and len(corpus.shards) == 3
    np.testing.assert_allclose(gpu.weights, cpu.weights, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_concept_retrieval_on_the_gpu_matches_cpu(kind):
    """concepts.retrieve searches on the GPU when FAISS can and returns the CPU's positives and negatives."""
    import torch

    pytest.importorskip("faiss")
    from concepts.retrieve import retrieve
    from transport.dask_kernels import faiss_gpu_count

    if faiss_gpu_count() == 0:
        pytest.skip("this FAISS has no GPU support (install faiss-gpu)")
    rng = np.random.default_rng(2)
    concepts = _unit(rng, 40, 48)
    near = np.repeat(concepts, 8, axis=0) + 0.05 * rng.standard_normal((320, 48)).astype(np.float32)
    stimuli = np.vstack([near / np.linalg.norm(near, axis=1, keepdims=True), _unit(rng, 3000, 48)])
    options = dict(positives=8, negatives=8, candidates=32, background=256, index=kind)
    cpu = retrieve(concepts, stimuli, device="cpu", **options)
    gpu = retrieve(concepts, stimuli, device=torch.device("cuda"), **options)
    assert cpu.search_device == "cpu" and gpu.search_device == "cuda:0"
    assert (gpu.pos_index // 8 == np.arange(40)[:, None]).all()
    np.testing.assert_array_equal(np.sort(gpu.pos_index, 1), np.sort(cpu.pos_index, 1))
    np.testing.assert_allclose(gpu.pos_dist, cpu.pos_dist, rtol=0, atol=1e-4)
    np.testing.assert_allclose(gpu.neg_dist, cpu.neg_dist, rtol=0, atol=1e-4)
