"""Where the LLM stages run and in what precision: the `llm.dtype` setting resolved for a device.

bfloat16 halves the weights' memory and, on hardware with bf16 matrix units (every recent NVIDIA GPU, and
x86 CPUs with AMX or AVX512-BF16), runs the forward pass several times faster than float32; elsewhere
a CPU only emulates it, slower than float32, so ``auto`` keeps float32 there.
"""

from __future__ import annotations

from pathlib import Path

from recranker_core.errors import InputError

DTYPES = ("auto", "float32", "bfloat16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""CPU flags (Linux /proc/cpuinfo) of native bf16 matrix instructions."""


def default_device():
    """The device an LLM stage uses in a single process: the GPU when there is one, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def native_bf16_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has native bf16 matrix instructions (AMX or AVX512-BF16)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return any(flag in flags for flag in BF16_FLAGS)


def resolve_dtype(setting: str, device=None):
    """The torch dtype that ``llm.dtype = setting`` means on ``device`` (default: :func:`default_device`);
    an InputError for a dtype the device cannot run natively."""
    import torch

    device = torch.device(device) if device is not None else default_device()
    cuda = device.type == "cuda"
    native = torch.cuda.is_bf16_supported() if cuda else native_bf16_cpu()
    if setting == "float32":
        return torch.float32
    if setting == "bfloat16":
        if not native:
            where = "this GPU" if cuda else "this CPU (no AMX or AVX512-BF16)"
            raise InputError(f"llm.dtype = 'bfloat16': {where} has no native bf16; use 'auto' or 'float32'")
        return torch.bfloat16
    if setting != "auto":
        raise InputError(f"llm.dtype = {setting!r}: not one of {', '.join(DTYPES)}")
    return torch.bfloat16 if native else torch.float32


def dtype_name(dtype) -> str:
    """'float32' or 'bfloat16', as the manifest records it."""
    return str(dtype).removeprefix("torch.")
