"""Turning one raw LLM output into one clean example text, or a reason to reject it.

:func:`clean_text` strips chat preambles, label headers, markdown, list numbering, wrapping quotes and
trailing commentary, keeps the first candidate when the model wrote several, and judges the rest.
:class:`~s3_magic.dedup.Deduper` (re-exported here) rejects repeats and copies of real examples.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from s3_magic.dedup import Deduper, normalize
from s3_magic.errors import ConfigError

__all__ = ["REASONS", "Cleaned", "Deduper", "clean_text", "filter_outputs"]

#: every reason an output can be rejected for, with what it means
REASONS: dict[str, str] = {
    "empty": "nothing left after cleaning",
    "refusal": "the model refused or answered with an AI disclaimer",
    "wrong_label": "a header or lead-in names another label than the one asked for",
    "prompt_echo": "restates the instructions or copies a line of the prompt",
    "not_text": "mostly non-letters, code or markup",
    "repetitive": "the model looped, repeating words or phrases",
    "meta_talk": "talks about the writing task (the original review, a rewrite, the label) instead of being an example",
    "too_short": "fewer words than min_words",
    "too_long": "more words than max_words or more characters than max_chars",
    "duplicate": "same text (ignoring case, punctuation, spacing) as an accepted example",
    "near_duplicate": "nearly the same text as an accepted example",
    "copies_validation": "exact or near copy of a validation example",
    "copies_check": "exact or near copy of a held-out check example",
    "copies_test": "exact or near copy of a test example",
    "judge_disagrees": "a student trained on the validation examples confidently gives it another label",
    "copies_context": "a pair's second text (or a question) copies its context",
    "not_a_question": "QA: no question mark, so the output is not a question",
    "contains_answer": "QA: the question contains its own answer",
}


@dataclass(frozen=True)
class Cleaned:
    """A cleaned output. ``reason`` None means accepted; otherwise ``text`` is the best-effort cleaned text."""

    text: str
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None


_I = re.IGNORECASE
_AP = "['’]"
_DEFAULT_LABELS = ("positive", "negative", "neutral")

# --- chat and template artefacts -------------------------------------------------------------------------
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | _I)
_CUT_AT = re.compile(r"<\|(?:im_end|endoftext|eot_id|end)\|>|</s>|\n\s*(?:user|human|###\s*instruction)\s*:", _I)
_SPECIAL = re.compile(r"<\|[a-z_]+\|>|<s>", _I)
_ROLE = re.compile(r"^\s*(?:assistant|model|gpt|bot)\s*(?::\s*|\n)", _I)
_FENCE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$", re.M)
_BR = re.compile(r"<br\s*/?>", _I)
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff]")

# --- refusals and instruction echoes ------------------------------------------------------------------------
_CANT = (
    rf"(?:can(?:no|{_AP})?t|cannot|won{_AP}?t|will\s+not|(?:am|{_AP}m)\s+(?:not\s+able|unable|not\s+comfortable)"
    r"|must\s+decline)"
)
_TASK_VERB = (
    r"(?:help\s+(?:you|with)|assist|comply|fulfil+|provide|write|create|generate|produce|complete|do\s+(?:that|this)"
    r"|engage|continue|respond|answer|participate|proceed)"
)
_REFUSAL = re.compile(
    rf"^(?:(?:i{_AP}m|i\s+am)\s+(?:(?:very|so|really|truly)\s+)?sorry\b.{{0,60}}?\b(?:i\s+{_CANT}\s+(?:to\s+)?{_TASK_VERB}"
    rf"|as\s+an\s+ai)|i\s+apologi[sz]e,?\s+but\b|(?:unfortunately,?\s+)?i\s+{_CANT}\s+(?:to\s+)?{_TASK_VERB}"
    rf"|i\s+(?:don{_AP}t|do\s+not)\s+have\s+(?:personal\s+)?(?:opinions|feelings|experiences|the\s+ability))",
    _I,
)
_AI_DISCLAIMER = re.compile(
    rf"\bas\s+an?\s+(?:ai|artificial\s+intelligence)(?:\s+(?:language\s+)?model|\s+assistant|,)|\bi{_AP}m\s+(?:just\s+)?an\s+ai\b"
    r"|\bi\s+am\s+(?:just\s+)?an\s+ai\b",
    _I,
)
_KINDS = r"(?:review|sentence|hypothes[ie]s|example|text|statement|premise|tweet|comment|paraphrase)s?"
_INSTRUCTION = re.compile(
    rf"^(?:please\s+)?(?:write|generate|create|compose|produce|provide|give\s+me)\s+(?:me\s+)?(?:only\s+|just\s+)?"
    rf"(?:a|an|one|another|two|three|some|\d+|the)\b[^.!?\n]{{0,80}}?\b{_KINDS}\b"
    r"|^(?:your|the|my)\s+task\s+is\b|^(?:task|instructions?|prompt|system|user|human)\s*:"
    r"|^you\s+are\s+(?:an?\s+)?(?:helpful|expert|professional|ai|language|assistant|annotator|writer|movie\s+critic)\b"
    r"|^in\s+this\s+task\b",
    _I,
)

# --- preambles, headers, list markers, commentary ---------------------------------------------------------
_INTERJECTION = re.compile(
    r"^(?:sure(?:\s+thing)?|certainly|of\s+course|absolutely|okay|ok|alright|all\s+right|great|no\s+problem|yes"
    rf"|gladly|happy\s+to\s+help|with\s+pleasure|definitely)\s*(?:[!.]+|:|,(?=\s*(?:here|i\b|i{_AP}|let\s+me|below"
    r"|the\s+following|one\b))|$)\s*",
    _I,
)
_TASK_WORD = (
    r"(?:review|example|sentence|hypothes[ie]s|text|statement|response|version|sample|tweet|comment|option|answer"
    r"|output|one|it|premise|paraphrase|headline|post|description|variation)s?"
)
_LEAD_START = (
    rf"(?:here(?:{_AP}s|\s+is|\s+are)|below\s+(?:is|are)|the\s+following\s+(?:is|are)|i(?:{_AP}ve|\s+have)\s+"
    rf"(?:written|created|generated|composed|come\s+up\s+with)|i(?:{_AP}ll|\s+will|\s+can)\s+(?:write|create|generate|give|provide)"
    r"|let\s+me\s+(?:write|create|generate|give|provide))"
)
_LEAD_COLON = re.compile(
    rf"^(?:{_LEAD_START}|this\s+is|these\s+are|(?:a|an|one)\s+(?:possible|new|example|sample))\b"
    rf"[^:\n]{{0,150}}?\b{_TASK_WORD}\b[^:\n]{{0,80}}?:\s*",
    _I,
)
_LEAD_LINE = re.compile(
    rf"(?:{_LEAD_START})\b[^\n]{{0,150}}?\b(?:review|example|sentence|hypothes[ie]s|response|version|sample|tweet"
    r"|comment|statement|text)s?\b[^\n]{0,80}",
    _I,
)
_HEADER = re.compile(r"^(?:\*\*|__)?\s*(?P<h>[^\W\d_][\w '’()/#&+-]{0,48}?)\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*")
_CONTENT_KEYS = {
    "review", "reviews", "text", "sentence", "hypothesis", "example", "output", "response", "answer", "statement",
    "tweet", "comment", "sample", "result", "option", "candidate", "version", "paraphrase", "headline", "post",
    "message",
}  # fmt: skip
_DROP_KEYS = {"title", "premise", "context", "instruction", "instructions", "task", "prompt", "input", "question",
              "note", "notes", "explanation", "disclaimer"}  # fmt: skip
_LABEL_KEYS = {"sentiment", "label", "class", "category", "rating", "score", "relationship", "relation", "tone",
               "genre"}  # fmt: skip
_FILLER = {"a", "an", "the", "new", "final", "short", "one", "my", "your", "movie", "film", "generated", "synthetic",
           "example", "sentiment", "label", "class", "s"}  # fmt: skip
_ITEM = re.compile(r"^(?:\(?\d{1,3}[.)]|#\d{1,3}[.:)]?|[-*•‣▪◦–—+])\s+")
_MD_PREFIX = re.compile(r"^(?:#{1,6}|>+)\s*")
_BOLD_LINE = re.compile(r"(?:\*\*|__)[^*_]+(?:\*\*|__)")
_COMMENTARY = re.compile(
    r"^[(*_\s]*(?:(?:note|notes|n\.b\.|explanation|reasoning|rationale|justification|analysis|disclaimer"
    r"|word\s+count)\b\s*[:(-]|i\s+hope\s+(?:this|that|it)\b|hope\s+(?:this|that|it)\s+helps|(?:please\s+)?let\s+me\s+know"
    rf"|feel\s+free|if\s+you(?:{_AP}d|\s+would)?\s+(?:like|want|need)|would\s+you\s+like|is\s+there\s+anything"
    r"|i\s+can\s+(?:also\s+)?(?:write|provide|generate|create)|alternatively\b|another\s+(?:option|example|version)\s*:"
    r"|this\s+(?:review|hypothesis|sentence|example|response|text|statement)\s+(?!is\s+(?:a|an|the)\s+(?:must|waste))"
    r"|the\s+(?:above\s+)?(?:review|hypothesis|sentence|example)\s+(?:is|expresses|conveys|uses|captures|highlights|has)"
    r"|in\s+this\s+(?:review|hypothesis|sentence|example))",
    _I,
)
_INLINE_TAIL = re.compile(
    r"(?<=[.!?\"”')])\s+(?:\(?\s*(?:note|explanation|sentiment|label|word\s+count)\s*:"
    r"|i\s+hope\s+(?:this|that|it)\s+(?:helps|meets|works|fits|fulfills|captures|is\s+what)|hope\s+(?:this|that|it)\s+helps"
    r"|(?:please\s+)?let\s+me\s+know\s+if|feel\s+free\s+to|is\s+there\s+anything\s+else|would\s+you\s+like\s+me"
    rf"|if\s+you(?:{_AP}d|\s+would)\s+like\s+(?:me|another|more|a\s+different)"
    r"|this\s+(?:review|hypothesis|sentence|example|response|statement)\s+(?:expresses|conveys|uses|captures"
    r"|highlights|reflects|maintains|focuses|emphasi[sz]es|describes|follows|meets|effectively|clearly|is\s+(?:entailed|"
    r"not\s+entailed|positive|negative|neutral)))",
    _I,
)
_EMPHASIS = (
    re.compile(r"\*\*(.+?)\*\*"),
    re.compile(r"__(.+?)__"),
    re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"),
    re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"),
    re.compile(r"(?<![`\w])`([^`\s]+)`(?![`\w])"),
)
_TRAILING_NOTE = re.compile(r"\s*[(\[]([^()\[\]]{0,60})[)\]]\s*$")
_NOTE_WORDS = re.compile(r"\b(?:words?|characters?|sentiment|label|note|tone|positive|negative|neutral)\b", _I)
_QUOTES = {'"': '"', "“": "”", "„": "“", "«": "»", "'": "'", "‘": "’", "「": "」"}
_QUOTE_TAIL = re.compile(r"([.!?,;:…]*)(?:\s*[-–—]\s*[^\s\"“”][^\"“”]{0,60})?")
_CODE = re.compile(
    r"\{\s*[\"'][^\"'\n]{1,40}[\"']\s*:|\w\(\)|\bdef\s+\w+\s*\(|\bfunction\b\s*\w*\s*\(|\bprint\s*\("
    r"|\bconsole\.log\b|\breturn\b[^.!?\n]*;|^\s*(?:import|from)\s+[\w.]+(?:\s+import\b|\s*$)|^\s*[{}\[\]]\s*$"
    r"|</?(?:div|script|html|body|span|table|tr|td|ul|li)\b",
    _I | re.M,
)
_INLINE_TAG = re.compile(r"</?(?:i|em|b|strong|u|p)>", _I)
_META_KIND = r"(?:movie\s+|film\s+)?(?:review|sentence|text|example|statement|hypothes[ie]s|premise|prompt)s?"
_META = re.compile(
    rf"\b(?:re-?written|re-?phrased|paraphrased)\s+(?:[\w-]+\s+){{0,2}}{_META_KIND}\b"
    r"|\b(?:re-?write|re-?phrase|paraphrase)\s+(?:the|this|it|your)\b"
    rf"|\b(?:the|your|my|this|that)\s+(?:original|previous|given|provided|above|new|first|second|last)\s+{_META_KIND}\b"
    rf"|\b{_META_KIND}\s+(?:that\s+)?you\s+(?:provided|gave|shared|wrote|sent|posted|asked)\b"
    r"|\byour\s+(?:movie\s+|film\s+)?reviews?\b|\b(?:this|the|a|my)\s+(?:movie|film)\s+reviews?\b",
    _I,
)


class _Labels:
    """Finds label words (``positive``, ``not entailed``...) in headers, longest first."""

    def __init__(self, expected: str | None, others: Sequence[str]) -> None:
        self.expected = self._key(expected) if expected else None
        self.others = {self._key(w) for w in others if w and self._key(w) != self.expected}
        words = sorted({*self.others, *([self.expected] if self.expected else []), *_DEFAULT_LABELS}, key=len)
        alts = "|".join(r"[\s_-]+".join(map(re.escape, w.split())) for w in reversed(words))
        self.pattern = re.compile(rf"\b(?:{alts})\b", _I)

    @staticmethod
    def _key(word: str) -> str:
        return " ".join(re.sub(r"[_-]", " ", word).casefold().split())

    def find(self, text: str) -> set[str]:
        return {self._key(m) for m in self.pattern.findall(text)}

    def only_labels(self, text: str, extra: set[str] = _FILLER) -> bool:
        """True when ``text`` names a label and otherwise holds only filler words."""
        if not self.pattern.search(text):
            return False
        return set(re.findall(r"[^\W\d_]+", self.pattern.sub(" ", text).casefold())) <= extra

    def wrong(self, texts: Iterable[str]) -> bool:
        if not self.expected or not self.others:
            return False
        for text in texts:
            found = self.find(text)
            if found & self.others and self.expected not in found:
                return True
        return False


def _header_kind(name: str, rest: str, labels: _Labels) -> str | None:
    """``"content"`` (strip the header), ``"drop"``/``"labelled"`` (drop the line) or None (not a header)."""
    if len(name.split()) > 5:
        return None
    words = set(re.findall(r"[^\W\d_]+", labels.pattern.sub(" ", name).casefold()))
    if words & _DROP_KEYS:
        return "drop"
    if words & _CONTENT_KEYS:
        return "content"
    has_label = bool(labels.pattern.search(name))
    if words & _LABEL_KEYS and not (has_label and len(rest.split()) > 3):
        return "labelled"
    if has_label and words <= _FILLER | _LABEL_KEYS:
        return "content"
    return None


def _classify(line: str, labels: _Labels, after_content: bool) -> tuple[str, str, list[str]]:
    """``(kind, rest, label_texts)`` for one line; ``label_texts`` are checked for a wrong label."""
    s = line.strip()
    if not s:
        return "blank", "", []
    m = _MD_PREFIX.match(s)
    heading = bool(m and m.group(0).startswith("#"))
    s = s[m.end() :] if m else s
    if after_content and _COMMENTARY.match(s):
        return "commentary", s, []
    found: list[str] = []
    while m := (_INTERJECTION.match(s) or _LEAD_COLON.match(s)):
        found.append(m.group(0))
        s = s[m.end() :]
    if not s or _LEAD_LINE.fullmatch(s):
        return "lead", "", [*found, s]
    m = _ITEM.match(s)
    item = bool(m)
    s = s[m.end() :] if m else s
    m = _HEADER.match(s)
    kind = _header_kind(m.group("h"), s[m.end() :], labels) if m else None
    if m and kind == "content":
        return "header", s[m.end() :], [*found, m.group("h")]
    if kind == "drop":
        return "meta", "", [*found, m.group("h")] if m else found
    if kind == "labelled" or labels.only_labels(_strip_markdown(s)):
        return "meta", "", [*found, s]
    if item:
        return "item", s, found
    if heading or _BOLD_LINE.fullmatch(s):
        return "title", s, [*found, s]
    return "text", s, found


def _select(text: str, labels: _Labels) -> tuple[str, list[str]]:
    """The lines that make up the first candidate, joined, and the texts to check for a wrong label."""
    units: list[tuple[str, str]] = []
    found: list[str] = []
    for line in text.split("\n"):
        has_content = any(r for _, r in units)
        kind, rest, bits = _classify(line, labels, has_content)
        if has_content and (kind == "commentary" or (kind in ("text", "item") and _INSTRUCTION.match(rest))):
            break
        found += bits
        if kind not in ("lead", "meta"):
            units.append((kind, rest))
    if sum(1 for k, r in units if r and k != "title") and any(k == "title" for k, _ in units):
        units = [u for u in units if u[0] != "title"]
    starts = [i for i, (k, _) in enumerate(units) if k in ("item", "header")]
    if len(starts) >= 2:
        units = units[starts[0] : starts[1]]
    elif starts and units[starts[0]][0] == "header":
        units = units[starts[0] :]
    paragraphs = [" ".join(r for _, r in group) for group in _paragraphs(units)]
    if len(paragraphs) >= 2 and all(_unwrap_quotes(p) != p for p in paragraphs):
        paragraphs = paragraphs[:1]  # several quoted candidates
    return " ".join(paragraphs), found


def _paragraphs(units: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    groups: list[list[tuple[str, str]]] = [[]]
    for kind, rest in units:
        if kind == "blank":
            groups.append([])
        elif rest:
            groups[-1].append((kind, rest))
    return [g for g in groups if g]


def _strip_markdown(text: str) -> str:
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\1", text)
    return text.replace("**", "").replace("__", "")


def _unwrap_quotes(text: str) -> str:
    """Remove quotes around the whole text (keeping a final ., ! or ? that followed them and dropping an
    attribution such as ``- A viewer``); internal quotes and apostrophes stay."""
    for _ in range(2):
        text = text.strip()
        if len(text) < 2 or text[0] not in _QUOTES:
            break
        close = _QUOTES[text[0]]
        end = _closing_quote(text, close)
        if end is None:
            if text.count(text[0]) == 1 and text[0] != "'" and close not in text[1:]:
                text = text[1:]  # a lone opening quote (output cut short)
            break
        tail = _QUOTE_TAIL.fullmatch(text[end + 1 :].strip())
        if tail is None:
            break
        inner = text[1:end].strip()
        punct = tail.group(1)
        text = inner + (punct[:1] if punct[:1] in ".!?" and inner[-1:] not in ".!?…" else "")
    if text[-1:] in {'"', "”"} and text.count(text[-1]) == 1 and "“" not in text:
        text = text[:-1].rstrip()  # a lone closing quote
    return text


def _closing_quote(text: str, close: str) -> int | None:
    """Index of the quote that closes the one at position 0, if it is near the end."""
    open_ = text[0]
    if open_ != close:
        depth = 0
        for i, ch in enumerate(text):
            depth += (ch == open_) - (ch == close)
            if depth == 0:
                return i
        return None
    last = text.rfind(close)
    if last <= 0:
        return None
    if open_ == '"':  # an inner straight quote must open (follow a space) before anything closes
        inner = [i for i in range(1, last) if text[i] == '"']
        if any(text[i - 1] not in " (" for i in inner[::2]):
            return None
    return last


def _polish(text: str) -> str:
    text = _strip_markdown(text)
    text = _ITEM.sub("", text.strip(), count=1)
    m = _INLINE_TAIL.search(text)
    if m:
        text = text[: m.start()]
    text = _TRAILING_NOTE.sub(lambda m: "" if _NOTE_WORDS.search(m.group(1)) else m.group(0), text)
    text = _unwrap_quotes(text)
    return " ".join(text.split())


def _prepare(raw: str) -> str:
    text = _INVISIBLE.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))
    text = _THINK.sub("", text)
    m = _CUT_AT.search(text)
    text = text[: m.start()] if m else text
    text = _SPECIAL.sub("", text)
    text = _ROLE.sub("", text, count=1)
    text = _FENCE.sub("", text)
    return _INLINE_TAG.sub("", _BR.sub("\n", text)).strip()


def _is_refusal(prepared: str, cleaned: str) -> bool:
    if _AI_DISCLAIMER.search(prepared):
        return True
    heads = [_MD_PREFIX.sub("", ln.strip()).lstrip("\"“'*_ ") for ln in prepared.split("\n") if ln.strip()][:2]
    heads = [_INTERJECTION.sub("", h) for h in heads]
    return any(_REFUSAL.match(h) for h in [*heads, cleaned])


def _echoes(text: str, prompt: str | None) -> bool:
    if _INSTRUCTION.match(text):
        return True
    if not prompt:
        return False
    norm = normalize(text)
    pieces = [prompt, *prompt.split("\n"), *re.findall(r"[\"“]([^\"”]+)[\"”]", prompt)]
    return any(norm in (normalize(p), normalize(p.split(":", 1)[-1])) for p in pieces)


def _is_meta(text: str, labels: _Labels) -> bool:
    """True when the text talks about the task (the original review, a rewrite, a label) instead of being one."""
    if _META.search(text):
        return True
    return bool(
        re.search(rf"(?:{labels.pattern.pattern})\s+(?:movie\s+|film\s+)?(?:review|tone|sentiment)s?\b", text, _I)
    )


def _is_repetitive(text: str) -> bool:
    words = re.findall(r"\w+", text.casefold())
    if len(words) < 8:
        return False
    if len(set(words)) / len(words) < 0.4:
        return True
    grams = list(zip(words, words[1:], words[2:], words[3:], strict=False))
    return 1 - len(set(grams)) / len(grams) > 0.2


def _is_garbage(text: str) -> bool:
    nonspace = len(text) - text.count(" ")
    letters = sum(ch.isalpha() for ch in text)
    return letters < 0.6 * nonspace or bool(_CODE.search(text))


def clean_text(
    raw: str | None,
    *,
    min_words: int = 3,
    max_words: int = 150,
    max_chars: int = 2000,
    expected_label_word: str | None = None,
    other_label_words: Sequence[str] = (),
    prompt: str | None = None,
) -> Cleaned:
    """Clean one raw LLM output meant to be ONE example text and judge it (reasons: :data:`REASONS`).

    With ``expected_label_word`` and ``other_label_words`` an output whose header or lead-in names another
    label (``Negative review: ...`` when a positive one was asked for) is rejected as ``wrong_label``; the
    content itself is not classified. With ``prompt`` an output that repeats a line or quoted part of the
    prompt is rejected as ``prompt_echo``.
    """
    if min_words < 0 or max_words < min_words or max_chars < 1:
        raise ConfigError(f"need 0 <= min_words <= max_words and max_chars >= 1, got {min_words}, {max_words}, "
                          f"{max_chars}; fix the filters settings")  # fmt: skip
    labels = _Labels(expected_label_word, other_label_words)
    prepared = _prepare(raw or "")
    selected, label_texts = _select(prepared, labels)
    text = _polish(selected)
    reason: str | None = None
    if prepared and _is_refusal(prepared, text):
        reason = "refusal"
    elif not text:
        reason = "empty"
    elif labels.wrong([*label_texts, *_TRAILING_NOTE.findall(selected)]):
        reason = "wrong_label"
    elif _echoes(text, prompt):
        reason = "prompt_echo"
    elif _is_meta(text, labels):
        reason = "meta_talk"
    elif _is_garbage(text) or _CODE.search(prepared):
        reason = "not_text"
    elif _is_repetitive(text):
        reason = "repetitive"
    elif len(text.split()) < min_words:
        reason = "too_short"
    elif len(text.split()) > max_words or len(text) > max_chars:
        reason = "too_long"
    return Cleaned(text, reason)


def filter_outputs(
    raws: Iterable[str | None], deduper: Deduper | None = None, **clean_options: object
) -> list[tuple[str | None, str | None]]:
    """Clean a batch and drop repeats: ``(text, None)`` for each accepted output, ``(None, reason)`` otherwise.

    Accepted texts are added to ``deduper`` (a fresh one when None), so repeats within the batch are caught.
    """
    dedup = deduper if deduper is not None else Deduper()
    out: list[tuple[str | None, str | None]] = []
    for raw in raws:
        cleaned = clean_text(raw, **clean_options)  # type: ignore[arg-type]
        reason = cleaned.reason or dedup.check_and_add(cleaned.text)
        out.append((None, reason) if reason else (cleaned.text, None))
    return out
