#!/usr/bin/env bash
# The CUDA paths proven on a GPU machine, within one 600 s device command (the step limits sum to 580 s; issue 19 item 4, issue 16 item 6). From the repository root:
#
#     bash bench/gpu/check.sh [OUT_DIR]            # figures and logs go to OUT_DIR (default $OUT, else /tmp/gpu-check)
#
# 1. tests/test_cuda.py: Sinkhorn, OMP, text embedding, FAISS kNN, both SOT solvers and a Dask worker on the GPU
#    against the CPU (a case whose package is absent skips and says which);
# 2. python -m bench.gpu._sot_solve: SOT at n = 1e6 with 10k + 10k anchors, sparse to convergence, stream timed;
# 3. python -m bench.gpu._embed_throughput: our text encoder against sentence-transformers on a random-weight
#    MiniLM-L6-shaped model built from its config;
# 4. python -m bench.gpu._mosaic_step: seconds per MOSAIC training step (control tokens, precomputed teacher, Adam)
#    on a random-weight SmolLM2-135M-shaped model, CUDA against this machine's CPU, fp32 and bf16.
#
# Needs on the machine: python 3.11 with a CUDA build of torch, and numpy. Everything else comes from
# bench/gpu/wheels/ when that folder is there: fill it beforehand with `bash bench/gpu/fetch_wheels.sh` (51 MB:
# transformers, tokenizers, huggingface_hub and its HTTP stack, safetensors, sentence-transformers, faiss-cpu,
# dask + distributed, pytest; no pyarrow, scipy or scikit-learn, which the checks do without; faiss-gpu does not fit,
# so FAISS searches on the CPU there and the FAISS-GPU test skips unless the machine has faiss-gpu), keep it out of git
# (`echo bench/gpu/wheels/ >> .git/info/exclude`) and carry it (carry: ["bench/gpu/wheels"]). The models are built
# from configs with random weights and the data are synthetic: nothing is downloaded.
# Without CUDA it says so and exits 0.
set -u
OUT_DIR=${1:-${OUT:-/tmp/gpu-check}}
PY=${PYTHON:-python3}
mkdir -p "$OUT_DIR"
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "bench/gpu/check.sh: CUDA is absent here (no torch, or torch.cuda.is_available() is False); nothing to check"
  exit 0
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G "bench/gpu/wheels/*.whl" >/dev/null; then
  SITE=$(mktemp -d /tmp/gpu-check-site.XXXX)
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" bench/gpu/wheels/*.whl
  export PYTHONPATH="$PWD:$SITE"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT_DIR/gpu.csv" 2>&1
"$PY" -c "import torch, faiss; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'faiss GPUs', faiss.get_num_gpus())" \
  2>&1 | tee "$OUT_DIR/versions.txt"
status=0
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to OUT_DIR/NAME.log, remember a failure
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit}s)"
  local start=$SECONDS
  timeout "$limit" "$@" > >(tee "$OUT_DIR/$name.log") 2>&1 || { echo "== $name FAILED (exit $?)"; status=1; }
  echo "== $name took $((SECONDS - start))s"
}
step test_cuda 140 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py
step sot_solve 200 "$PY" -m bench.gpu._sot_solve --out "$OUT_DIR/sot_solve.json"
step embed_throughput 120 "$PY" -m bench.gpu._embed_throughput --out "$OUT_DIR/embed_throughput.json"
step mosaic_step 120 "$PY" -m bench.gpu._mosaic_step --devices cuda cpu --threads 16 --max-seconds 90 --out "$OUT_DIR/mosaic_step.json"
exit $status
