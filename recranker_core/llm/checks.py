"""What a model folder must be for the LLM stages, checked before any stage runs: a config that parses,
an architecture we support, safetensors weights whose headers agree with it, the LoRA target layers it
has, and a size that fits the device. Reads only config.json and the safetensors headers."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from recranker_core.errors import InputError
from recranker_core.llm.weights import header_shapes
from recranker_core.memory import HEADROOM, available

log = logging.getLogger("recranker")
ARCHITECTURES = {"llama": "Llama", "qwen2": "Qwen2", "mistral": "Mistral", "gemma3_text": "Gemma 3"}
"""model_type in config.json -> the family name; causal LMs the project is tested on (tests build a tiny
random model of each)."""
NOMINAL_LENGTH = 512
"""Tokens per example the check before any stage assumes (the examples are not written yet); training
decides on gradient checkpointing with the real lengths."""


@dataclass(frozen=True)
class ModelFacts:
    """What the folder says of the model, without loading it."""

    model_type: str
    parameters: int
    layers: int
    hidden: int
    modules: frozenset[str]
    """The last name of every weight's module (q_proj, down_proj, ...)."""
    linear: tuple[tuple[str, int], ...] = ()
    """(module's last name, inputs + outputs) of every matrix: what a LoRA adapter of it holds per rank."""


def read_facts(folder: Path) -> ModelFacts:
    """config.json and the safetensors headers of a model folder; an InputError naming what is wrong."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from None
    config = config.get("text_config", config) if isinstance(config, dict) else {}
    kind = config.get("model_type", "")
    if kind not in ARCHITECTURES:
        known = ", ".join(f"{name} ({key})" for key, name in ARCHITECTURES.items())
        raise InputError(f"{path}: model_type {kind!r} is not supported; supported: {known}")
    shapes: dict[str, list[int]] = {}
    for weights in sorted(folder.glob("*.safetensors")):
        shapes |= header_shapes(weights)
    _agree(shapes, config, folder)
    parameters = sum(_product(shape) for shape in shapes.values())
    modules = frozenset(name.rsplit(".", 2)[-2] for name in shapes if name.count(".") >= 1)
    linear = tuple((name.rsplit(".", 2)[-2], sum(shape)) for name, shape in shapes.items() if len(shape) == 2)
    layers, hidden = int(config.get("num_hidden_layers", 0)), int(config.get("hidden_size", 0))
    return ModelFacts(kind, parameters, layers, hidden, modules, linear)


def _agree(shapes: dict[str, list[int]], config: dict, folder: Path) -> None:
    """Refuse weights that are not the model config.json describes: its input embeddings' shape and its
    number of layers (a mismatch failed deep inside the train stage, after the earlier stages ran)."""
    where = f"{folder}: the *.safetensors weights"
    # Tied weights are saved once, under either name.
    named = {k: v for k, v in shapes.items() if k.endswith(("embed_tokens.weight", "lm_head.weight"))}
    expected = [config.get("vocab_size"), config.get("hidden_size")]
    if not named:
        raise InputError(f"{where} hold neither embed_tokens nor lm_head (not a causal LM's weights)")
    for name, shape in named.items():
        if shape != expected:
            raise InputError(f"{where} have {name} of shape {shape}; config.json says {expected}")
    layers = {int(k.split("layers.")[1].split(".")[0]) for k in shapes if "layers." in k}
    if len(layers) != config.get("num_hidden_layers"):
        raise InputError(
            f"{where} hold {len(layers)} layers; config.json says {config.get('num_hidden_layers')}"
        )


def _product(shape: list[int]) -> int:
    out = 1
    for size in shape:
        out *= int(size)
    return out


def check_targets(facts: ModelFacts, targets: tuple[str, ...], where: Path) -> None:
    """Refuse LoRA target modules of which the model has none."""
    present = [t for t in targets if t in facts.modules]
    if not present:
        layers = ", ".join(sorted(m for m in facts.modules if m.endswith("proj"))) or "none named *proj"
        raise InputError(
            f"{where}: llm.target_modules = {list(targets)}: the model has none of them ({layers})"
        )
    missing = sorted(set(targets) - set(present))
    if missing:
        log.warning("%s: the model has no %s layers; LoRA adapts %s", where, ", ".join(missing), present)


def lora_parameters(facts: ModelFacts, targets: tuple[str, ...], rank: int, layers: int) -> int:
    """Weights of a LoRA adapter of rank ``rank`` on the ``targets`` matrices of the last ``layers`` layers
    (0: all)."""
    every = sum(rank * size for module, size in facts.linear if module in targets)
    return every * min(layers, facts.layers) // facts.layers if layers and facts.layers else every


def training_bytes(
    facts: ModelFacts, weight_bytes: int, full: bool, tokens: int, checkpointing: bool, adapter: int = 0
) -> int:
    """Estimated peak memory of a training step: the weights, and for a full fine-tune their float32
    gradients and AdamW moments (12 bytes a weight more), the ``adapter``'s trainable weights with theirs
    (16 bytes each), plus the activations of ``tokens`` tokens (about 34 values per hidden unit per layer,
    2 with gradient checkpointing)."""
    weights = facts.parameters * (weight_bytes + (12 if full else 0)) + adapter * 16
    return weights + tokens * facts.layers * facts.hidden * (2 if checkpointing else 34) * weight_bytes


def device_memory(device) -> int:
    """Bytes of memory the device offers: the GPU's total, or the CPU's available memory."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return available()


def gradient_checkpointing(
    facts: ModelFacts, memory: int, weight_bytes: int, full: bool, tokens: int, adapter: int = 0
) -> bool:
    """Whether a training step of ``tokens`` tokens needs gradient checkpointing to fit ``memory`` bytes; an
    InputError when it would not fit even then."""
    if training_bytes(facts, weight_bytes, full, tokens, False, adapter) <= HEADROOM * memory:
        return False
    least = training_bytes(facts, weight_bytes, full, tokens, True, adapter)
    if least > HEADROOM * memory:
        raise InputError(
            f"the model ({facts.parameters / 1e9:.1f}B parameters) needs about {least / 2**30:.1f} GiB to "
            f"train with these settings, more than the device's {memory / 2**30:.1f} GiB; choose a smaller "
            "model, llm.dtype = 'bfloat16', LoRA rather than llm.full_finetune, or a smaller llm.batch_size "
            "or llm.lora_r"
        )
    return True


def scoring_bytes(facts: ModelFacts, weight_bytes: int, tokens: int) -> int:
    """Estimated peak memory of scoring ``tokens`` tokens at once (``[rerank] batch_tokens``): the weights,
    the keys and values of every layer and a layer's activations (about 12 values per hidden unit)."""
    return facts.parameters * weight_bytes + tokens * facts.hidden * (2 * facts.layers + 12) * weight_bytes


def scoring_fits(folder: Path, llm, tokens: int) -> None:
    """An InputError when scoring batches of ``tokens`` tokens with the model in ``folder`` would not fit
    this machine's device."""
    from recranker_core.llm.device import default_device, resolve_dtype

    device = default_device()
    facts = read_facts(folder)
    need, memory = (
        scoring_bytes(facts, resolve_dtype(llm.dtype, device).itemsize, tokens),
        device_memory(device),
    )
    if need > HEADROOM * memory:
        raise InputError(
            f"rerank.batch_tokens = {tokens}: scoring with the model ({facts.parameters / 1e9:.1f}B "
            f"parameters) needs about {need / 2**30:.1f} GiB, more than the device's "
            f"{memory / 2**30:.1f} GiB; lower it, or choose a smaller model or llm.dtype = 'bfloat16'"
        )


def needs_checkpointing(folder: Path, llm, tokens: int, facts: ModelFacts | None = None) -> bool:
    """Whether training the model in ``folder`` with ``llm`` (``llm_settings.LLMConfig``) on batches of
    ``tokens`` tokens needs gradient checkpointing on this machine's device; an InputError when it would not
    fit even then. Weights are held in ``llm.dtype``, a full fine-tune's in float32."""
    from recranker_core.llm.device import default_device, resolve_dtype

    device = default_device()
    weight_bytes = 4 if llm.full_finetune else resolve_dtype(llm.dtype, device).itemsize
    facts = facts or read_facts(folder)
    adapter = (
        0 if llm.full_finetune else lora_parameters(facts, llm.target_modules, llm.lora_r, llm.lora_layers)
    )
    return gradient_checkpointing(
        facts, device_memory(device), weight_bytes, llm.full_finetune, tokens, adapter
    )


def check_scale(model: str, scale: tuple[int, int], source: str) -> None:
    """Refuse, before any stage runs, a rating scale whose pointwise answers cannot be scored: a single
    value, or answers the model's tokenizer cannot tell apart (``scoring.label_tokens``)."""
    from recranker_core.llm.models import load_tokenizer, resolve_model
    from recranker_core.llm.rerank import task_labels
    from recranker_core.llm.scoring import label_tokens
    from recranker_core.prompts import templates

    low, high = scale
    if high <= low:
        raise InputError(
            f"{source}: every rating is {low}; pointwise answers need a scale of two or more values"
        )
    messages = [
        {"role": "system", "content": templates.SYSTEM.format(domain="item")},
        {"role": "user", "content": templates.pointwise('"an item"', "item", low, high)},
    ]
    try:
        label_tokens(load_tokenizer(resolve_model(model)), messages, task_labels("pointwise", 1, scale))
    except InputError as exc:
        raise InputError(f"{source}: ratings on a {low}-{high} scale: {exc}") from None
