"""Step 1: rationales — reasons or attributes that would make a text carry each label."""

from __future__ import annotations

from s3_magic.engine.context import RunContext
from s3_magic.errors import S3Error
from s3_magic.prompts import Prompts, parse_rationales

#: at most this many LLM calls per label while collecting distinct rationales
MAX_CALLS_PER_LABEL = 8


def generate_rationales(ctx: RunContext, prompts: Prompts) -> dict[str, list[str]]:
    """Make (or reuse) ``rationales_per_label`` distinct rationales per label; returns them by label.

    Labels that already have rationales in the store (from the LLM, the task file or the user)
    are left alone, so editing them before seed synthesis sticks.
    """
    task, store = ctx.task, ctx.store
    want = task.sizes.rationales_per_label
    have = rationales_by_label(ctx)
    for label in task.labels:
        if have.get(label.name):
            continue
        given = (task.rationales or {}).get(label.name)
        if given:
            store.add_rationales(ctx.run_id, label.name, given, source="task")
            continue
        found: dict[str, str] = {}
        for call in range(MAX_CALLS_PER_LABEL):
            prompt = prompts.rationale(label, want, sample=f"rationale:{label.name}:{call}")
            for _, completion in ctx.llm.generate([prompt], step="r0:rationales"):
                for item in parse_rationales(completion.text):
                    found.setdefault(item.casefold(), item)
            ctx.reporter.progress(f"rationales {label.name}", min(len(found), want), want)
            if len(found) >= want:
                break
        if not found:
            raise S3Error(
                f"the LLM wrote no usable rationales for label {label.name!r}; list them under "
                "rationales: in the task, or use a stronger model"
            )
        store.add_rationales(ctx.run_id, label.name, list(found.values())[:want])
    return rationales_by_label(ctx)


def rationales_by_label(ctx: RunContext) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in ctx.store.rationales(ctx.run_id):
        out.setdefault(row["label"], []).append(row["text"])
    return out
