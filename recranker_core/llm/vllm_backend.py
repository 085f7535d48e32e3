"""The optional vLLM engine for generate mode (``[rerank] backend = "vllm"``).

vLLM is not a dependency of the project: it is imported here only, only when a run asks for it, and
needs a CUDA GPU. It answers a whole block of prompts in one call (continuous batching, paged KV
cache); the answers are parsed exactly as the transformers backend's are (``rerank.answer_row``).
The tuned LoRA adapter is applied per request, so one engine serves both the tuned and the
zero-shot answers; a full fine-tune is its own model folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from recranker_core import launch
from recranker_core.errors import InputError
from recranker_core.llm.rerank import COLUMNS, MAX_NEW_TOKENS, answer_row
from recranker_core.llm.scoring import prompt_ids
from recranker_core.prompt_record import Prompt


def require() -> None:
    """Refuse clearly where the vLLM backend cannot run."""
    if importlib.util.find_spec("vllm") is None:
        raise InputError(
            "rerank.backend = 'vllm': the vllm package is not installed (pip install vllm, on a CUDA machine)"
        )
    if launch.world_size() > 1:
        raise InputError(
            "rerank.backend = 'vllm' batches on its own: "
            "run rerank in one process, not under accelerate launch"
        )


class VLLMAnswers:
    """Greedy answers of the tuned model (base + adapter, or a full fine-tune) and of the base model."""

    def __init__(self, base: Path, tuned: Path, *, lora_rank: int | None, zeroshot: bool, seed: int):
        self.base, self.tuned, self.lora_rank, self.seed = base, tuned, lora_rank, seed
        # A full fine-tune with zero-shot answers needs two engines on the GPU: half its memory each.
        self.memory = 0.45 if zeroshot and not lora_rank else 0.9
        self.engines: dict[Path, object] = {}

    def _engine(self, path: Path):
        from vllm import LLM

        if path not in self.engines:
            lora = (
                {"enable_lora": True, "max_lora_rank": _allowed_rank(self.lora_rank)}
                if self.lora_rank
                else {}
            )
            self.engines[path] = LLM(
                model=str(path), seed=self.seed, gpu_memory_utilization=self.memory, **lora
            )
        return self.engines[path]

    def score(self, family: str, tokenizer, prompts: list[Prompt], scale: tuple[int, int]) -> pd.DataFrame:
        """Output rows (as ``rerank.score_prompts`` gives them) for ``family`` "tuned" or "zeroshot"."""
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest

        if self.lora_rank:  # one engine on the base model; the adapter per request
            engine = self._engine(self.base)
            request = LoRARequest("tuned", 1, str(self.tuned)) if family == "tuned" else None
        else:
            engine, request = self._engine(self.tuned if family == "tuned" else self.base), None
        inputs = [{"prompt_token_ids": prompt_ids(tokenizer, p["messages"])} for p in prompts]
        params = [
            SamplingParams(temperature=0.0, max_tokens=MAX_NEW_TOKENS[p["meta"]["task"]]) for p in prompts
        ]
        answers = engine.generate(inputs, params, lora_request=request, use_tqdm=False)
        return pd.DataFrame(
            [answer_row(p, a.outputs[0].text, scale) for p, a in zip(prompts, answers)], columns=COLUMNS
        )


def _allowed_rank(rank: int) -> int:
    """vLLM reserves LoRA memory for a rank of 8, 16, 32, ...: the smallest that holds ``rank``."""
    allowed = 8
    while allowed < rank:
        allowed *= 2
    return allowed
