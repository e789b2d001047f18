"""Prompt construction. Templates use ``$name`` placeholders (``string.Template``), so braces and
other characters in user text or examples are never interpreted.

Placeholders: ``$text_kind`` ``$label`` (the label's prompt words) ``$description`` (label description)
``$rationales`` ``$n`` ``$example`` ``$first`` ``$second`` ``$first_name`` ``$second_name`` ``$length_hint``.
"""

from __future__ import annotations

import re
from string import Template

from s3_magic.errors import ConfigError
from s3_magic.example import Example
from s3_magic.llm.base import Prompt
from s3_magic.task import LabelSpec, TaskSpec

SINGLE = {
    "rationale": (
        "Think of many different $text_kind texts that are $label.$description_clause "
        "List $n different short reasons or aspects that make a $text_kind $label. "
        "Write one reason per line, each a few words long."
    ),
    "seed": ("Write a $label $text_kind that talks about: $rationales.$length_hint Write only the $text_kind itself."),
    "seed_plain": "Write a $label $text_kind.$length_hint Write only the $text_kind itself.",
    "zerogen": "Write a $label $text_kind.$length_hint Write only the $text_kind itself.",
    "error": (
        'Here is a $label $text_kind: "$example"\n'
        "Write a new $label $text_kind that is similar to it but different.$length_hint "
        "Write only the new $text_kind."
    ),
    # the follow-up turn of the default extrapolation conversation (see Prompts.error)
    "error_again": (
        "Write another $label $text_kind about a different aspect of a film.$length_hint "
        "Write only the $text_kind itself."
    ),
}

PAIR = {
    "rationale": SINGLE["rationale"],
    "seed": (
        "$first_name: $first\n"
        "Write one short $second_name sentence that is $label given the $first_name.$length_hint "
        "Write only the sentence."
    ),
    "zerogen": (
        "$first_name: $first\n"
        "Write one short $second_name sentence that is $label given the $first_name. Write only the sentence."
    ),
    "error": (
        "$first_name: $first\n"
        "A $second_name that is $label given the $first_name: $example\n"
        "Write a different $second_name sentence that is also $label given the $first_name.$length_hint "
        "Write only the sentence."
    ),
}
PAIR["seed_plain"] = PAIR["seed"]
PAIR["error_again"] = SINGLE["error_again"]


class Prompts:
    """Builds the prompts of one task, honouring the task's template overrides."""

    def __init__(self, task: TaskSpec) -> None:
        self.task = task
        defaults = PAIR if task.is_pair else SINGLE
        p = task.prompts
        overrides = {"rationale": p.rationale, "seed": p.seed, "seed_plain": p.seed_plain, "error": p.error,
                     "error_again": p.error_again, "zerogen": p.zerogen}  # fmt: skip
        self.templates = {name: Template(overrides[name] or text) for name, text in defaults.items()}
        for name, tpl in self.templates.items():
            bad = _unknown_placeholders(tpl)
            if bad:
                raise ConfigError(
                    f"prompts.{name} uses unknown placeholder(s) {', '.join('$' + b for b in bad)}; "
                    f"use only {', '.join('$' + k for k in sorted(_KNOWN))} (write $$ for a dollar sign)"
                )

    def _fill(self, name: str, label: LabelSpec, **values: str) -> str:
        p = self.task.prompts
        hint = f" {p.length_hint.strip()}" if p.length_hint.strip() else ""
        desc = label.description.strip()
        base = {
            "text_kind": p.text_kind, "label": label.prompt_word, "description": desc,
            "description_clause": f" ({desc})" if desc else "", "length_hint": hint,
            "first_name": p.first_name, "second_name": p.second_name, "n": "", "rationales": "",
            "example": "", "first": "", "second": "",
        }  # fmt: skip
        return self.templates[name].substitute({**base, **values}).strip()

    def _prompt(self, content: str, sample: str) -> Prompt:
        return Prompt.user(content, sample=sample, system=self.task.prompts.system)

    def rationale(self, label: LabelSpec, n: int, sample: str) -> Prompt:
        return self._prompt(self._fill("rationale", label, n=str(n)), sample)

    def seed(self, label: LabelSpec, rationales: list[str], sample: str, context: str | None = None) -> Prompt:
        name = "seed" if rationales or self.task.is_pair else "seed_plain"
        content = self._fill(name, label, rationales="; ".join(rationales), first=context or "")
        return self._prompt(content, sample)

    def zerogen(self, label: LabelSpec, sample: str, context: str | None = None) -> Prompt:
        return self._prompt(self._fill("zerogen", label, first=context or ""), sample)

    def error(self, label: LabelSpec, example: Example, sample: str) -> Prompt:
        """The extrapolation prompt for one misclassified example.

        On a single-text task without a ``prompts.error`` override this is a short conversation: the
        ``seed_plain`` request, the example as the LLM's own answer, then ``error_again``. Small models copy the
        style and length of their "own" answer and do not talk about "the review you provided", which they often
        do when the example is quoted inside one instruction. Otherwise it is the one-message ``error`` template.
        """
        if self.task.is_pair:
            content = self._fill("error", label, first=example.text, example=example.text_b or "")
        elif self.task.prompts.error is None:
            messages = [
                {"role": "user", "content": self._fill("seed_plain", label)},
                {"role": "assistant", "content": example.text},
                {"role": "user", "content": self._fill("error_again", label)},
            ]
            return Prompt.chat(messages, sample, system=self.task.prompts.system)
        else:
            content = self._fill("error", label, example=example.text)
        return self._prompt(content, sample)


_KNOWN = {
    "text_kind", "label", "description", "description_clause", "length_hint", "first_name", "second_name", "n",
    "rationales", "example", "first", "second",
}  # fmt: skip


def _unknown_placeholders(tpl: Template) -> list[str]:
    found = set()
    for m in tpl.pattern.finditer(tpl.template):
        name = m.group("named") or m.group("braced")
        if name:
            found.add(name)
        elif m.group("invalid") is not None:
            found.add(tpl.template[m.start() : m.start() + 12])
    return sorted(found - _KNOWN)


_LIST_MARK = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,3}[.):]|[a-zA-Z][.)])\s*")


def parse_rationales(text: str) -> list[str]:
    """Split an LLM's list of reasons into short, clean items."""
    items = []
    for line in text.splitlines():
        line = _LIST_MARK.sub("", line).strip().strip("*").strip()
        line = line.rstrip(".;,").strip()
        if ":" in line and len(line.split(":", 1)[0].split()) <= 4:
            head, tail = line.split(":", 1)
            line = head.strip() if len(tail.split()) > 12 or not tail.strip() else f"{head.strip()}: {tail.strip()}"
        words = line.split()
        if not 1 <= len(words) <= 16:
            continue
        lowered = line.lower()
        if lowered.startswith(("here are", "here is", "sure", "reasons", "i hope", "these are", "note")):
            continue
        items.append(line)
    return items
