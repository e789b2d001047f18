"""Prompt construction. Templates use ``$name`` placeholders (``string.Template``), so braces and
other characters in user text or examples are never interpreted.

Placeholders: ``$text_kind`` ``$label`` (the label's prompt words) ``$description`` (label description)
``$rationales`` ``$n`` ``$example`` ``$examples`` ``$first`` ``$second`` ``$first_name`` ``$second_name``
``$length_hint``.

The defaults name no domain: every task word comes from the task (``prompts.text_kind``, the label words and
descriptions), so the same templates serve sentiment, topic, entailment or question-pair tasks. ``$label`` is
always used as a modifier of ``$text_kind`` ("a $label $text_kind": "a positive movie review", "a Sports news
article"), so label words should read that way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from string import Template
from typing import Any

from s3_magic.errors import ConfigError
from s3_magic.example import Example
from s3_magic.llm.base import Prompt
from s3_magic.task import LabelSpec, TaskSpec

SINGLE = {
    "rationale": (
        "List $n different short reasons or topics that fit a $label $text_kind$description_clause. "
        "Write one reason per line, each a few words long."
    ),
    # with sizes.rationale_demonstrations: real examples shown before the rationale request
    "rationale_examples": "Real examples of a $label $text_kind:\n$examples",
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
        "Write another $label $text_kind about a different aspect of the same subject.$length_hint "
        "Write only the $text_kind itself."
    ),
    # with sizes.demonstrations: the request after the first demonstration, and the last one without rationales
    "seed_again": "Write another $label $text_kind.$length_hint Write only the $text_kind itself.",
}

PAIR = {
    "rationale": (
        "List $n different short reasons why a $second_name can be $label given the $first_name$description_clause. "
        "Write one reason per line, each a few words long."
    ),
    "rationale_examples": "Real pairs where the $second_name is $label given the $first_name:\n$examples",
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
# not used by the pair defaults (the pair error prompt is one message, and every pair demonstration is asked for
# with its own first text), kept so that overrides are checked the same way
PAIR.update({name: SINGLE[name] for name in ("error_again", "seed_again")})


class Prompts:
    """Builds the prompts of one task, honouring the task's template overrides."""

    def __init__(self, task: TaskSpec) -> None:
        self.task = task
        defaults = PAIR if task.is_pair else SINGLE
        p = task.prompts
        overrides = {"rationale": p.rationale, "seed": p.seed, "seed_plain": p.seed_plain, "error": p.error,
                     "error_again": p.error_again, "zerogen": p.zerogen, "seed_again": p.seed_again,
                     "rationale_examples": p.rationale_examples}  # fmt: skip
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
            "example": "", "examples": "", "first": "", "second": "",
        }  # fmt: skip
        return self.templates[name].substitute({**base, **values}).strip()

    def _prompt(self, content: str, sample: str, meta: Mapping[str, Any] | None = None) -> Prompt:
        return Prompt.user(content, sample=sample, system=self.task.prompts.system, meta=meta)

    def rationale(self, label: LabelSpec, n: int, sample: str, examples: Sequence[Example] = ()) -> Prompt:
        """The request for ``n`` rationales of ``label``; with ``examples`` (real examples of the label, from
        ``sizes.rationale_demonstrations``) the ``rationale_examples`` lines come first, one example per line."""
        content = self._fill("rationale", label, n=str(n))
        if examples:
            shown = self._fill("rationale_examples", label, examples="\n".join(self._shown(e) for e in examples))
            content = f"{shown}\n\n{content}"
        return self._prompt(content, sample, {"step": "rationale", "label": label.name, "n": n})

    def _shown(self, example: Example) -> str:
        """One real example as one line of a prompt (line breaks inside it become spaces): ``- text``, or
        ``- first_name: text | second_name: text_b``."""
        text = " ".join(example.text.split())
        if example.text_b is None:
            return f"- {text}"
        p = self.task.prompts
        return f"- {p.first_name}: {text} | {p.second_name}: {' '.join(example.text_b.split())}"

    def seed(
        self,
        label: LabelSpec,
        rationales: list[str],
        sample: str,
        context: str | None = None,
        demonstrations: Sequence[Example] = (),
    ) -> Prompt:
        """The seed prompt of one example of ``label``.

        Without ``demonstrations`` it is one message: ``seed`` with the rationales (and, on a pair task, the
        context as ``$first``), or ``seed_plain`` without rationales. With ``demonstrations`` (real examples of
        the label, from ``sizes.demonstrations``) it is a conversation in the shape of :meth:`error`: each
        demonstration is the LLM's own earlier answer to a request (single text: ``seed_plain``, then
        ``seed_again``; pair: ``seed_plain`` with the demonstration's own first text, answered by its second text),
        and the last request is ``seed`` (with the rationales, or the pair context) or, without rationales on a
        single-text task, ``seed_again``.
        """
        pair = self.task.is_pair
        name = "seed" if rationales or pair else "seed_plain"
        meta = {"step": "seed", "label": label.name, "rationales": tuple(rationales), **_context(context)}
        if not demonstrations:
            content = self._fill(name, label, rationales="; ".join(rationales), first=context or "")
            return self._prompt(content, sample, meta)
        messages = []
        for i, demo in enumerate(demonstrations):
            if pair:
                ask, answer = self._fill("seed_plain", label, first=demo.text), demo.text_b or ""
            else:
                ask, answer = self._fill("seed_plain" if i == 0 else "seed_again", label), demo.text
            messages += [{"role": "user", "content": ask}, {"role": "assistant", "content": answer}]
        last = "seed" if rationales or pair else "seed_again"
        final = self._fill(last, label, rationales="; ".join(rationales), first=context or "")
        messages.append({"role": "user", "content": final})
        return Prompt.chat(messages, sample, system=self.task.prompts.system, meta=meta)

    def zerogen(self, label: LabelSpec, sample: str, context: str | None = None) -> Prompt:
        meta = {"step": "zerogen", "label": label.name, **_context(context)}
        return self._prompt(self._fill("zerogen", label, first=context or ""), sample, meta)

    def error(self, label: LabelSpec, example: Example, sample: str) -> Prompt:
        """The extrapolation prompt for one misclassified example.

        On a single-text task without a ``prompts.error`` override this is a short conversation: the
        ``seed_plain`` request, the example as the LLM's own answer, then ``error_again``. Small models copy the
        style and length of their "own" answer and do not talk about "the review you provided", which they often
        do when the example is quoted inside one instruction. Otherwise it is the one-message ``error`` template.
        """
        meta = {"step": "error", "label": label.name, "text": example.text}
        if example.text_b is not None:
            meta["text_b"] = example.text_b
        if self.task.is_pair:
            content = self._fill("error", label, first=example.text, example=example.text_b or "")
        elif self.task.prompts.error is None:
            messages = [
                {"role": "user", "content": self._fill("seed_plain", label)},
                {"role": "assistant", "content": example.text},
                {"role": "user", "content": self._fill("error_again", label)},
            ]
            return Prompt.chat(messages, sample, system=self.task.prompts.system, meta=meta)
        else:
            content = self._fill("error", label, example=example.text)
        return self._prompt(content, sample, meta)


def _context(context: str | None) -> dict[str, str]:
    """The ``context`` entry of a prompt's meta: the pair task's first text, when there is one."""
    return {} if context is None else {"context": context}


_KNOWN = {
    "text_kind", "label", "description", "description_clause", "length_hint", "first_name", "second_name", "n",
    "rationales", "example", "examples", "first", "second",
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
