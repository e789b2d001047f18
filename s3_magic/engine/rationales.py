"""Step 1: rationales — reasons or attributes that would make a text carry each label."""

from __future__ import annotations

import itertools
import re

from s3_magic.engine.context import RunContext
from s3_magic.errors import S3Error
from s3_magic.example import Example
from s3_magic.prompts import Prompts, parse_rationales
from s3_magic.task import LabelSpec

#: at most this many LLM calls per label while collecting distinct rationales
MAX_CALLS_PER_LABEL = 8

#: the stored source of LLM rationales written after real examples: ``"llm from val:3,val:17"``
FROM_EXAMPLES = "llm from "


def generate_rationales(ctx: RunContext, prompts: Prompts) -> dict[str, list[str]]:
    """Make (or reuse) ``rationales_per_label`` distinct rationales per label; returns them by label.

    Labels that already have rationales in the store (from the LLM, the task file or the user)
    are left alone, so editing them before seed synthesis sticks. With ``sizes.rationale_demonstrations`` each
    call shows real validation examples of the label first, and each rationale is stored with the uids of the
    examples its call showed (see :func:`demonstration_uids`).
    """
    task, store = ctx.task, ctx.store
    want = task.sizes.rationales_per_label
    have = rationales_by_label(ctx)
    asked: list[LabelSpec] = []  # the labels whose rationales come from the LLM
    for label in task.labels:
        if have.get(label.name):
            continue
        given = (task.rationales or {}).get(label.name)
        if given:
            store.add_rationales(ctx.run_id, label.name, given, source="task")
            continue
        asked.append(label)
    # call ``c`` of every label still short of rationales goes in one batch: the same calls as one label at a time
    found: dict[str, dict[str, tuple[str, str]]] = {label.name: {} for label in asked}  # casefolded -> (text, source)
    short = list(asked)
    for call in range(MAX_CALLS_PER_LABEL):
        if not short:
            break
        shown = [rationale_demonstrations(ctx, label.name, call) for label in short]
        batch = [
            prompts.rationale(label, want, sample=f"rationale:{label.name}:{call}", examples=examples)
            for label, examples in zip(short, shown, strict=True)
        ]
        answers = dict(ctx.llm.generate(batch, step="r0:rationales"))
        for i, (label, examples) in enumerate(zip(short, shown, strict=True)):
            source = FROM_EXAMPLES + ",".join(e.uid for e in examples) if examples else "llm"
            shown_words = [set(_words(f"{e.text} {e.text_b or ''}")) for e in examples]
            for item in parse_rationales(answers[i].text):
                if not _copies(item, shown_words):  # a shown example copied back is not a reason
                    found[label.name].setdefault(item.casefold(), (item, source))
            ctx.reporter.progress(f"rationales {label.name}", min(len(found[label.name]), want), want)
        short = [label for label in short if len(found[label.name]) < want]
    for label in asked:
        if not found[label.name]:
            raise S3Error(
                f"the LLM wrote no usable rationales for label {label.name!r}; list them under "
                "rationales: in the task, or use a stronger model"
            )
        kept = list(found[label.name].values())[:want]
        for source, group in itertools.groupby(kept, key=lambda item: item[1]):  # in order, one insert per source
            store.add_rationales(ctx.run_id, label.name, [text for text, _ in group], source=source)
    return rationales_by_label(ctx)


def rationale_demonstrations(ctx: RunContext, label: str, call: int) -> list[Example]:
    """The real examples shown in rationale call ``call`` of ``label`` (``sizes.rationale_demonstrations`` of
    them, fewer when the label has fewer). Drawn from the validation split only, never the check or test split,
    by a generator that depends only on the task seed, the label and the call."""
    k = ctx.task.sizes.rationale_demonstrations
    if not k:
        return []
    pool = [e for e in ctx.data.validation if e.label == label]
    return ctx.rng(f"rationale-demos:{label}:{call}").sample(pool, min(k, len(pool)))


def rationales_by_label(ctx: RunContext) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in ctx.store.rationales(ctx.run_id):
        out.setdefault(row["label"], []).append(row["text"])
    return out


def rationale_demonstration_uids(ctx: RunContext) -> dict[str, dict[str, list[str]]]:
    """By label and rationale text: the uids of the real examples shown when the LLM wrote that rationale
    (empty for rationales written without examples, from the task file or by the user)."""
    out: dict[str, dict[str, list[str]]] = {}
    for row in ctx.store.rationales(ctx.run_id):
        uids = out.setdefault(row["label"], {}).setdefault(row["text"], [])
        uids.extend(u for u in demonstration_uids(row["source"]) if u not in uids)
    return out


def demonstration_uids(source: str) -> list[str]:
    """The example uids recorded in a rationale's stored ``source`` (``"llm from val:3,val:17"``); [] otherwise."""
    return source[len(FROM_EXAMPLES) :].split(",") if source.startswith(FROM_EXAMPLES) else []


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _copies(item: str, shown: list[set[str]]) -> bool:
    """True when ``item`` (six words or more) is mostly words of one shown example: the LLM copied the example
    back, perhaps a little changed, instead of giving a reason. Short items ("a transfer deal") are kept."""
    words = _words(item)
    if len(words) < 6:
        return False
    return any(sum(w in example for w in words) >= 0.8 * len(words) for example in shown)
