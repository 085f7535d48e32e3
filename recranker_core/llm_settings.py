"""The settings of the language model: its tuning (``[llm]``) and how it scores the candidates
(``[rerank]``), two sections of the run configuration in a module of their own. It stands beside
``config.py`` rather than in ``llm/`` because every package reads the configuration: importing it loads
no torch and nothing of the pipeline."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass

from recranker_core.config_fields import FROM_LIST, SECTION, Count, Distinct, Positive, Rate

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True, config=SECTION)
class LLMConfig:
    model: str = "embedded"
    """The causal LM: "embedded" (SmolLM2-135M-Instruct), "gemma3-270m" (Gemma 3 270M), "tiny" (tests) or a
    local Hugging Face folder."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Weights' precision for training and scoring: "auto" is bfloat16 on a GPU and on a CPU with native bf16
    (AMX or AVX512-BF16), float32 elsewhere (docs/llm.md: what changes, and when to choose float32)."""
    full_finetune: bool = False
    """Train every weight instead of a LoRA adapter."""
    lora_r: Positive = 8
    """LoRA rank."""
    lora_alpha: Positive = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    """Dropout on the LoRA branch."""
    target_modules: Annotated[tuple[str, ...], FROM_LIST, Distinct] = LORA_TARGETS
    """Linear layers that get LoRA adapters (all attention and MLP projections by default)."""
    lora_layers: Count = 0
    """Adapt only the top this many transformer layers (0 = all); backward then stops there, which saves
    CPU time."""
    rank_loss: Annotated[float, Field(ge=0)] = 0.0
    """Weight of the ranking loss added to the language-model loss: on pairwise and listwise examples,
    the cross-entropy of the right label among the shown labels' logits, as scoring reads them (0 = none)."""
    learning_rate: Rate = 3e-4
    """AdamW learning rate."""
    epochs: Rate = 1.0
    """Passes over the (capped) training examples."""
    batch_size: Positive = 8
    """Examples per optimizer step."""
    max_length: Count = 0
    """Longest tokenized example, longer ones skipped and counted (0 = the model's context: none skipped)."""
    train_examples: Count = 0
    """Training examples used, drawn evenly from the three tasks in a seeded order (0 = all)."""
    valid_examples: Count = 120
    """Validation examples for the evaluation loss (0 = all)."""
    valid_loss_before: bool = True
    """Also measure the validation loss before training (one more pass over the validation examples)."""
    eval_every: Count = 0
    """Evaluation-loss interval in optimizer steps (0 = only before and after training)."""
    checkpoint_steps: Count = 100
    """Optimizer steps between training checkpoints; a stopped train resumes from the last one (0 = none)."""


@dataclass(frozen=True, config=SECTION)
class RerankConfig:
    mode: Literal["logits", "generate"] = "logits"
    """"logits": constrained label probabilities; "generate": greedy generation then parsing (the paper's)."""
    prefix_cache: bool = True
    """Encode each user's shared prompt prefix once and reuse its KV cache (logits mode)."""
    batch_size: Positive = 64
    """Most prompt continuations (or prefixes) scored per forward pass."""
    batch_tokens: Positive = 8192
    """Most tokens per forward pass (rows times the longest, with the prefix they read): the scheduler packs
    prompts of many users up to this; raise it on a GPU."""
    zeroshot: bool = True
    """Also score every prompt with the untuned model (methods zeroshot:<task>)."""
    hybrid_weights: Annotated[tuple[float, float, float], FROM_LIST] = (0.5, 0.05, 0.025)
    """Paper's hybrid weights a1 (pairwise wins), a2 (base rank), a3 (listwise position)."""
    threads: Count = 0
    """torch CPU threads (0 = all cores)."""
    checkpoint_users: Positive = 25
    """Users scored between two saved checkpoints; a stopped rerank resumes from the last one."""
    backend: Literal["transformers", "vllm"] = "transformers"
    """Engine of generate mode: "transformers", or "vllm" (optional, needs the vllm package and a CUDA
    GPU)."""

    @model_validator(mode="after")
    def _vllm_generates(self) -> RerankConfig:
        if self.backend == "vllm" and self.mode != "generate":
            raise ValueError(
                "rerank.backend = 'vllm' needs rerank.mode = 'generate' "
                "(logits mode reads label probabilities with transformers)"
            )
        return self
