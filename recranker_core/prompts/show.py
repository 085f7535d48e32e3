"""Plain-text view of one user's prompts, for `instructions --show USER`."""

from __future__ import annotations

from pathlib import Path

from recranker_core import rundir
from recranker_core.errors import InputError


def show_user(folder: Path, user: str) -> str:
    blocks = []
    for name in rundir.INSTRUCTION_FILES:
        for example in rundir.read_prompts(folder / name):
            meta = example["meta"]
            if str(meta["user_id"]) != str(user):
                continue
            head = f"── {meta['split']} · {meta['task']} · {meta['variant']} " + "─" * 20
            messages = [m.get("content", "") if isinstance(m, dict) else str(m) for m in example["messages"]]
            lines = [head, messages[1]]
            if len(messages) > 2:
                lines.append(f">>> answer: {messages[2]}")
            shown = f"shown items {meta['items']}, permutation {meta.get('permutation')}"
            lines.append(f"    {shown}, hints {meta.get('hint')}")
            blocks.append("\n".join(lines))
    if not blocks:
        raise InputError(
            f"{folder}: no prompts for user {user!r} (not sampled, and test item not among the candidates?)"
        )
    return "\n\n".join(blocks)
