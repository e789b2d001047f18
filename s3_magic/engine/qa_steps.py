"""The S3 steps of a ``kind: qa`` task: seed questions on the contexts pool, error extrapolation (another question
with the same answer in the same context, for each validation question the student gets wrong), ZeroGen-QA,
and training and scoring the QA student (exact match and token F1, SQuAD v1.1 normalisation).

A synthetic QA example is stored like a pair example: ``text`` is the context, ``text_b`` the question, ``label``
the answer text and ``origin["answer_start"]`` where the answer starts in the context.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

from s3_magic.engine.context import RunContext
from s3_magic.engine.synthesize import Cleaner, PlannedItem, SynthesisSummary, run_items, synthesize_until
from s3_magic.engine.training import fit_round_student
from s3_magic.errors import S3Error
from s3_magic.qa.metrics import exact_match, token_f1
from s3_magic.qa.prompts import QAPrompts
from s3_magic.qa.questions import clean_question
from s3_magic.qa.records import Answer, QAExample
from s3_magic.qa.task_data import QAData, seed_spans
from s3_magic.records import EVALUATED, Round


def qa_data(ctx: RunContext) -> QAData:
    if ctx.data.qa is None:
        raise S3Error(f"task {ctx.task.name!r} is not a qa task")
    return ctx.data.qa


def qa_prompts(ctx: RunContext) -> QAPrompts:
    return QAPrompts(chars=ctx.task.qa.prompt_context_chars)


def question_cleaner(ctx: RunContext) -> Cleaner:
    """Keeps the item's context and answer; the output must be a clean question (:func:`clean_question`)."""
    filters = ctx.task.filters

    def clean(item: PlannedItem, raw: str) -> tuple[str | None, str | None, str | None]:
        got = clean_question(raw, item.label, item.context or "", filters.min_words, filters.max_words)
        return item.context, got.text, got.reason

    return clean


#: how round 0 of a QA run writes its questions
SeedMethod = Literal["seed", "zerogen"]


def plan_questions(ctx: RunContext, n: int, method: SeedMethod) -> list[PlannedItem]:
    """``n`` question prompts (``method`` ``seed`` or ``zerogen``) for answer spans of the pool, in a seeded order
    (each span once before any twice). S3 seed prompts show ``sizes.demonstrations`` real validation questions
    first; ZeroGen's show none."""
    data, prompts = qa_data(ctx), qa_prompts(ctx)
    spans = seed_spans(data.pool)
    ctx.rng(f"qa-{method}").shuffle(spans)
    k = ctx.task.sizes.demonstrations if method == "seed" else 0
    items = []
    for i in range(n):
        context, answer, title = spans[i % len(spans)]
        demos = ctx.rng(f"qa-demos:{i}").sample(data.validation, min(k, len(data.validation))) if k else []
        key = f"{method}:{i}"
        prompt = prompts.question(context, answer, key, demos, step=method)
        origin = {
            "method": method,
            "answer_start": answer.start,
            "title": title,
            "demonstrations": [d.uid for d in demos],
        }
        items.append(PlannedItem(key, prompt, answer.text, origin, context))
    return items


def synthesize_qa_seed(ctx: RunContext, method: SeedMethod) -> SynthesisSummary:
    """Round 0 of a QA run: seed questions (``method`` ``seed``), or ZeroGen-QA (``zerogen``, until
    ``sizes.zerogen_accepted`` pass the filters when set)."""
    sizes, cleaner = ctx.task.sizes, question_cleaner(ctx)
    if method == "zerogen" and sizes.zerogen_accepted:
        return synthesize_until(ctx, lambda n: plan_questions(ctx, n, method), sizes.zerogen_accepted, method, cleaner)
    items = plan_questions(ctx, sizes.seed_examples, method)
    return run_items(ctx, items, round_no=0, kind=method, step=method, cleaner=cleaner)


def plan_qa_extrapolation(ctx: RunContext, errors: Sequence[dict[str, Any]], round_no: int) -> list[PlannedItem]:
    """Items for round ``round_no`` from the errors of round ``round_no - 1`` (most confident mistakes first):
    another question with the same answer in the same context, ``sizes.examples_per_error`` per error."""
    sizes, prompts = ctx.task.sizes, qa_prompts(ctx)
    questions = qa_data(ctx).by_uid()
    cap = sizes.max_errors_per_round
    items = []
    for err in errors[:cap] if cap else errors:
        source = questions[err["uid"]]
        answer = source.answer
        for j in range(sizes.examples_per_error):
            key = f"r{round_no}:{err['uid']}:{j}"
            origin = {
                "method": "extrapolated", "from_uid": err["uid"], "from_text": source.question,
                "from_pred": err["pred"], "from_confidence": err["confidence"], "error_round": round_no - 1,
                "answer_start": answer.start, "title": source.title,
            }  # fmt: skip
            items.append(PlannedItem(key, prompts.error(source, key), answer.text, origin, source.context))
    return items


def extrapolate_qa_errors(ctx: RunContext, round_no: int) -> SynthesisSummary:
    items = plan_qa_extrapolation(ctx, ctx.store.errors(ctx.run_id, round_no - 1), round_no)
    return run_items(
        ctx, items, round_no=round_no, kind="extrapolated", step="extrapolate", cleaner=question_cleaner(ctx)
    )


def qa_training_examples(ctx: RunContext, round_no: int) -> list[QAExample]:
    """Accepted synthetic questions of rounds ``0..round_no`` (the validation questions for the gold method)."""
    if ctx.task.method == "gold":
        return list(qa_data(ctx).validation)
    rows = ctx.store.examples(ctx.run_id, max_round=round_no, accepted=True)
    return [
        QAExample(
            r.text_b,
            r.text,
            (Answer(r.label, int(r.origin["answer_start"])),),
            r.gen_key,
            str(r.origin.get("title", "")),
        )
        for r in rows
        if r.text and r.text_b
    ]


def is_error(ctx: RunContext, em: float, f1: float) -> bool:
    """Whether a scored validation question counts as an error (``qa.error_f1``; default: exact match 0)."""
    threshold = ctx.task.qa.error_f1
    return em == 0.0 if threshold is None else f1 < threshold


def scored(student: Any, questions: Sequence[QAExample]) -> tuple[list[Any], list[float], list[float]]:
    """The student's predictions on ``questions`` with each one's exact match and F1 (0 or 1, 0 to 1)."""
    preds = student.predict(list(questions)) if questions else []
    ems = [exact_match(p.text, q.answer_texts) for p, q in zip(preds, questions, strict=True)]
    f1s = [token_f1(p.text, q.answer_texts) for p, q in zip(preds, questions, strict=True)]
    return preds, ems, f1s


def mean(values: Sequence[float]) -> float | None:
    """The mean of per-question scores (a share, 0 to 1, shown as percent like accuracies), or None for none."""
    return round(sum(values) / len(values), 4) if values else None


def f1_score(student: Any, questions: Sequence[QAExample]) -> float | None:
    """The student's mean token F1 on ``questions`` (0 to 1), or None when there are none."""
    return mean(scored(student, questions)[2])


def qa_train_and_evaluate(ctx: RunContext, round_no: int, extra_stats: dict[str, Any] | None = None) -> Round:
    """Train the QA student on everything accepted up to ``round_no``, score it on validation (its errors are
    stored for the next round), the check split and the test split (report only); return the round."""
    data = qa_data(ctx)
    train = qa_training_examples(ctx, round_no)
    if not train:
        raise S3Error(
            f"round {round_no} has no accepted training questions; synthesise more (sizes.seed_examples) "
            "or loosen the filters"
        )
    message = f"round {round_no}: training the QA student on {len(train)} questions"
    student, fit_stats, started = fit_round_student(ctx, train, message)
    train_seconds = float(fit_stats.get("seconds", time.time() - started))
    preds, ems, f1s = scored(student, data.validation)
    errors = [
        {
            "uid": q.uid,
            "text": q.context,
            "text_b": q.question,
            "gold": q.answer.text,
            "pred": p.text,
            "confidence": p.score,
        }
        for q, p, em, f1 in zip(data.validation, preds, ems, f1s, strict=True)
        if is_error(ctx, em, f1)
    ]
    stats: dict[str, Any] = dict(extra_stats or {})
    stats.update(n_train=len(train), val_em=mean(ems), val_f1=mean(f1s), n_errors=len(errors))
    stats["train_seconds"] = round(train_seconds, 2)
    if data.check:
        _, c_em, c_f1 = scored(student, data.check)
        stats.update(check_em=mean(c_em), check_f1=mean(c_f1), n_check=len(data.check))
    if data.test:
        _, t_em, t_f1 = scored(student, data.test)
        stats.update(test_em=mean(t_em), test_f1=mean(t_f1))
    stats["eval_seconds"] = round(time.time() - started - train_seconds, 2)
    record = Round.from_stats(round_no, EVALUATED, stats)
    ctx.store.save_evaluation(ctx.run_id, errors, record)
    return record
