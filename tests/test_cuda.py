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
