import numpy as np
import pytest

from concepts.retrieve import build_index, log_normaliser, retrieve, search_device
from curate.errors import ConfigError, InputError


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def planted():
    """20 concepts, 6 stimuli near each (rows 6c..6c+5), 200 unrelated stimuli."""
    rng = np.random.default_rng(0)
    concepts = _unit(rng.normal(size=(20, 32)))
    near = np.repeat(concepts, 6, axis=0) + 0.05 * rng.normal(size=(120, 32))
    return concepts, _unit(np.vstack([near, rng.normal(size=(200, 32))]))


def test_positives_are_the_planted_stimuli_and_negatives_far(planted):
    concepts, stimuli = planted
    found = retrieve(concepts, stimuli, positives=6, negatives=4, candidates=12, background=64)
    assert (found.pos_index // 6 == np.arange(20)[:, None]).all()
    assert np.all(np.diff(found.pos_dist, axis=1) >= 0)
    assert np.all(found.neg_dist.min(1) > found.pos_dist.max(1))
    # negatives are drawn from the retrieved positives of the other concepts
    assert np.all(found.neg_index < 120) and not (found.neg_index // 6 == np.arange(20)[:, None]).any()


def test_distance_is_the_concept_probability():
    rng = np.random.default_rng(1)
    concepts, stimuli = _unit(rng.normal(size=(5, 8))), _unit(rng.normal(size=(40, 8)))
    found = retrieve(concepts, stimuli, positives=3, negatives=2, candidates=40, background=40, scale=7.0)
    logits = 7.0 * concepts @ stimuli.T
    log_s = logits - np.log(np.exp(logits).sum(0, keepdims=True))
    expected = np.sqrt(-log_s)
    for c in range(5):
        np.testing.assert_allclose(found.pos_dist[c], np.sort(expected[c])[:3], rtol=1e-4)
        assert set(found.pos_index[c]) == set(np.argsort(expected[c])[:3])
    np.testing.assert_allclose(log_normaliser(concepts, stimuli, 7.0), np.log(np.exp(logits).sum(0)), rtol=1e-5)


def test_cross_modal_distance_adds_both_views(planted):
    concepts, captions = planted
    rng = np.random.default_rng(2)
    images = _unit(captions + 0.05 * rng.normal(size=captions.shape))
    options = dict(positives=6, negatives=2, candidates=12, background=64, scale=5.0)
    both = retrieve(concepts, captions, images=images, **options)
    text = retrieve(concepts, captions, **options)
    assert (both.pos_index // 6 == np.arange(20)[:, None]).all()
    assert np.all(both.pos_dist.mean(1) > 1.3 * text.pos_dist.mean(1))  # two −ln s terms instead of one
    assert all(len(set(row)) == len(row) for row in both.pos_index)


def test_min_similarity_leaves_concepts_without_positives(planted):
    concepts, stimuli = planted
    strangers = _unit(np.random.default_rng(3).normal(size=(3, 32)))
    found = retrieve(np.vstack([concepts, strangers]), stimuli, positives=4, negatives=2, min_similarity=0.7)
    assert found.n_pos[:20].min() == 4 and found.n_pos[20:].max() == 0
    assert (found.pos_index[20:] == -1).all()


def test_index_kinds_agree(planted):
    _, stimuli = planted
    flat = build_index(stimuli, "flat").search(stimuli[:10], 5)[1]
    hnsw = build_index(stimuli, "hnsw").search(stimuli[:10], 5)[1]
    assert (flat[:, 0] == np.arange(10)).all() and (hnsw[:, 0] == np.arange(10)).all()


def test_bad_input(planted):
    concepts, stimuli = planted
    with pytest.raises(InputError, match="pool is empty"):
        retrieve(concepts, stimuli[:0])
    with pytest.raises(InputError, match="concept list is empty"):
        retrieve(concepts[:0], stimuli)
    with pytest.raises(InputError, match="32-d but stimuli are 16-d"):
        retrieve(concepts, stimuli[:, :16])
    with pytest.raises(ConfigError, match="--index 'lsh'"):
        build_index(stimuli, "lsh")


class _FakeGpuIndex:
    """What index_cpu_to_gpu returns in the device-choice tests: the CPU index, searched through a wrapper."""

    def __init__(self, index, gpu: int):
        self.index, self.gpu = index, gpu

    def search(self, queries, k):
        return self.index.search(queries, k)


@pytest.fixture
def fake_faiss_gpu(monkeypatch):
    """FAISS reports `gpus` GPUs and records each index moved to one, so the GPU branch runs without a GPU."""
    faiss = pytest.importorskip("faiss")
    from transport import dask_kernels

    moved: list[int] = []

    def to_gpu(resources, gpu, index):
        moved.append(gpu)
        return _FakeGpuIndex(index, gpu)

    def set_gpus(gpus: int) -> list[int]:
        monkeypatch.setattr(faiss, "get_num_gpus", lambda: gpus, raising=False)
        return moved

    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", to_gpu, raising=False)
    monkeypatch.setattr(dask_kernels, "_GPU_RESOURCES", {})  # keep the fake resources out of the real cache
    return set_gpus


def test_search_goes_to_the_gpu_when_faiss_sees_one(planted, fake_faiss_gpu):
    import torch

    concepts, stimuli = planted
    images = _unit(stimuli + 0.05 * np.random.default_rng(4).normal(size=stimuli.shape))
    options = dict(positives=6, negatives=4, candidates=12, background=64)
    cpu = retrieve(concepts, stimuli, images=images, device="cpu", **options)
    moved = fake_faiss_gpu(1)
    gpu = retrieve(concepts, stimuli, images=images, device=torch.device("cuda", 1), **options)
    assert moved == [1, 1] and gpu.search_device == "cuda:1"  # one index per view, on the asked GPU
    assert cpu.search_device == "cpu"
    for field in ("pos_index", "pos_dist", "neg_index", "neg_dist"):
        np.testing.assert_array_equal(getattr(gpu, field), getattr(cpu, field))


def test_search_stays_on_the_cpu_when_the_gpu_is_not_usable(planted, fake_faiss_gpu, monkeypatch):
    import torch

    from concepts import retrieve as retrieve_module

    concepts, stimuli = planted
    cuda = torch.device("cuda")
    moved = fake_faiss_gpu(1)
    assert retrieve(concepts, stimuli, device="cpu").search_device == "cpu"  # --device cpu wins
    assert retrieve(concepts, stimuli, index="hnsw", device=cuda).search_device == "cpu"  # no GPU HNSW in FAISS
    monkeypatch.setattr(retrieve_module, "_GPU_MAX_K", 16)
    assert retrieve(concepts, stimuli, candidates=17, device=cuda).search_device == "cpu"  # k over the GPU limit
    assert moved == []
    assert retrieve(concepts, stimuli, candidates=16, device=cuda).search_device == "cuda:0"
    fake_faiss_gpu(0)  # faiss-cpu
    assert retrieve(concepts, stimuli, device=cuda).search_device == "cpu"
    assert moved == [0]


def test_search_device_choice(fake_faiss_gpu):
    import torch

    fake_faiss_gpu(2)
    assert search_device(torch.device("cuda", 1), 32) == torch.device("cuda", 1)
    assert search_device(torch.device("cuda"), 32) == torch.device("cuda", 0)
    assert search_device(torch.device("cuda"), 4096) == torch.device("cpu")
    assert search_device("cpu", 32) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert search_device("auto", 32).type == expected
    fake_faiss_gpu(0)
    assert search_device(torch.device("cuda"), 32) == torch.device("cpu")


def test_cuda_device_without_cuda_is_refused(planted):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    concepts, stimuli = planted
    with pytest.raises(ConfigError, match="--device cuda: CUDA is not available"):
        retrieve(concepts, stimuli, device="cuda")
