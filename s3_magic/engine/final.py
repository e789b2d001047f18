"""The model a user keeps: the student trained on the synthetic data of the best round *and* the real labels.

The best round is the one with the highest check accuracy. Each recipe of ``final.recipes`` is trained on that
round's accepted synthetic examples and the validation examples, and scored on the check split, example by
example. The recipes are taken in order of preference: a later one replaces the one kept so far only when its
mean gain over it on the check examples exceeds ``final.min_gain_se`` standard errors of that gain (paired, so
examples both get right or wrong do not count). A check split of 50 examples has a standard error of about 6
points of accuracy, so without that margin the choice would often follow noise.

With ``final.refit_with_check`` the chosen recipe is trained once more with the check examples added to the
real labels, and that model is saved: it has seen every real label, and the check accuracy reported for it is the
one measured before the refit (honest, if slightly pessimistic: the saved model learnt from more real labels).
No choice reads the test split; its accuracy is computed for the report only.

Recipes:
- ``real``: the real labels alone (what the user would have without S3; kept as a candidate so synthetic data
  that does not help is not forced on them);
- ``joint``: synthetic and real examples pooled, each weighing the same;
- ``weighted``: pooled, each real example weighing ``n_synthetic / n_real``, so the real labels count as much as
  all the synthetic data together;
- ``two_stage``: the synthetic data first, then the real labels, going on from those weights;
- ``agree``: a student trained on the real labels labels every synthetic example; those it labels otherwise are
  left out (label-noise control: about a third of a small LLM's examples do not read as the label asked for),
  and the rest is pooled with the real labels. The examples left out are counted in the result.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3_magic.atomic import staged
from s3_magic.engine import training
from s3_magic.engine.context import RunContext
from s3_magic.engine.loop import best_round, steering_metric
from s3_magic.errors import S3Error
from s3_magic.example import Example

RECIPES = ("real", "joint", "weighted", "two_stage", "agree")
#: the recipes a QA student can train (``agree`` needs labels to agree on; the QA student has no warm start)
QA_RECIPES = ("real", "joint", "weighted")


@dataclass
class FinalParts:
    """What the final step trains on and scores by, for the task's kind: the best round's accepted synthetic
    examples, the real labelled ones, the check and test splits, and how a student is scored: each example's
    score (right or wrong: 1 or 0; a QA task's token F1), for the paired comparison of recipes, and their mean
    (accuracy, or a QA task's mean token F1, stored as ``check_f1``)."""

    synthetic: list[Any]
    real: list[Any]
    check: list[Any]
    test: list[Any]
    per_example: Callable[[Any, Sequence[Any]], list[float]]
    mean: Callable[[Sequence[float]], float | None]
    metric: str = "acc"

    def score(self, student: Any, examples: Sequence[Any]) -> float | None:
        """The student's mean score on ``examples``, or None when there are none."""
        return self.mean(self.per_example(student, examples))


def final_parts(ctx: RunContext, round_no: int) -> FinalParts:
    qa = ctx.data.qa
    gold = ctx.task.method == "gold"
    if qa is not None:
        from s3_magic.engine.qa_steps import mean, qa_training_examples, scored

        synthetic_qa = [] if gold else qa_training_examples(ctx, round_no)
        return FinalParts(
            synthetic_qa,
            list(qa.validation),
            list(qa.check),
            list(qa.test),
            per_example=lambda student, questions: scored(student, questions)[2],
            mean=mean,
            metric="f1",
        )
    data = ctx.data
    synthetic = [] if gold else training.training_examples(ctx, round_no)
    real = list(data.gold if gold else data.validation)
    return FinalParts(synthetic, real, list(data.check), list(data.test), per_example=correct, mean=share)


def correct(student: Any, examples: Sequence[Example]) -> list[float]:
    """1.0 for each example the student labels right, else 0.0."""
    labels = student.predict(list(examples)).labels if examples else []
    return [float(label == e.label) for label, e in zip(labels, examples, strict=True)]


def share(values: Sequence[float]) -> float | None:
    """The mean of 0/1 scores (the share right: accuracy), or None for none."""
    return sum(values) / len(values) if values else None


def paired_gain(new: Sequence[float], old: Sequence[float]) -> tuple[float, float]:
    """The mean of ``new - old`` example by example, and its standard error (0 for fewer than two examples)."""
    diffs = [a - b for a, b in zip(new, old, strict=True)]
    if not diffs:
        return 0.0, 0.0
    mean = sum(diffs) / len(diffs)
    if len(diffs) < 2:
        return mean, 0.0
    var = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    return mean, math.sqrt(var / len(diffs))


def replaces(new: Sequence[float], old: Sequence[float], min_gain_se: float) -> tuple[bool, float, float]:
    """Whether a recipe scoring ``new`` on the check examples replaces one scoring ``old``: its mean gain is
    positive and more than ``min_gain_se`` standard errors. Returns (replaces, gain, standard error)."""
    gain, se = paired_gain(new, old)
    return gain > 0 and gain > min_gain_se * se, gain, se


def final_folder(ctx: RunContext) -> Path:
    """Where the final model goes by default: ``<run folder>/<run id>-final``."""
    return ctx.store.folder / f"{ctx.run_id}-final"


def fit_recipe(
    ctx: RunContext,
    recipe: str,
    synthetic: Sequence[Example],
    real: Sequence[Example],
    stage: str = "final",
    info: dict[str, Any] | None = None,
) -> Any:
    """A fresh student trained by ``recipe`` on ``synthetic`` and ``real`` examples; ``info`` (when given) gets
    what the recipe left out (``agree``: ``left_out``, the uids of the synthetic examples it did not train on)."""
    student = ctx.new_student()
    seed = ctx.task.seed

    def progress(d: int, t: int) -> None:
        ctx.reporter.progress(f"{stage} {recipe}", d, t)

    if recipe == "real" or not synthetic:
        student.fit(list(real), seed=seed, progress=progress)
    elif recipe == "joint":
        student.fit([*synthetic, *real], seed=seed, progress=progress)
    elif recipe == "weighted":
        weight = len(synthetic) / max(len(real), 1)
        weights = [1.0] * len(synthetic) + [weight] * len(real)
        student.fit([*synthetic, *real], seed=seed, progress=progress, weights=weights)
    elif recipe == "agree":
        kept = teacher_agreed(ctx, synthetic, real)
        if info is not None:
            kept_uids = {e.uid for e in kept}
            info["left_out"] = [e.uid for e in synthetic if e.uid not in kept_uids]
        student.fit([*kept, *real], seed=seed, progress=progress)
    elif recipe == "two_stage":
        student.fit(list(synthetic), seed=seed, progress=progress)
        student.fit(list(real), seed=seed, progress=progress, warm_start=True)
    else:
        raise S3Error(f"unknown final recipe {recipe!r}; use one of {', '.join(RECIPES)}")
    return student


def teacher_agreed(ctx: RunContext, synthetic: Sequence[Example], real: Sequence[Example]) -> list[Example]:
    """The synthetic examples a student trained on ``real`` gives the label they were written for."""
    teacher = ctx.new_student()
    teacher.fit(list(real), seed=ctx.task.seed)
    labels = teacher.predict(list(synthetic)).labels
    return [e for e, label in zip(synthetic, labels, strict=True) if label == e.label]


def usable_recipes(ctx: RunContext, synthetic: Sequence[Example]) -> list[str]:
    """The task's recipes this run and student can train (``real`` alone when there is no synthetic data)."""
    if not synthetic:
        return ["real"]
    probe = ctx.new_student()
    recipes: list[str] = list(dict.fromkeys(ctx.task.final.recipes))
    if ctx.task.is_qa:
        dropped = [r for r in recipes if r not in QA_RECIPES]
        recipes = [r for r in recipes if r in QA_RECIPES]
        if dropped:
            ctx.reporter.message(
                f"final: a QA student has no labels to agree on or warm start; {', '.join(dropped)} left out"
            )
        return recipes or ["joint", "real"]
    if not getattr(probe, "supports_warm_start", False) and "two_stage" in recipes:
        recipes.remove("two_stage")
        ctx.reporter.message("final: this student cannot go on from a previous fit; two_stage is left out")
    return recipes or ["joint"]


def train_final(ctx: RunContext, out: str | Path | None = None) -> dict[str, Any]:
    """Choose, train and save the final model; store and return its record (see the module doc)."""
    started = time.time()
    r = best_round(ctx)
    if r < 0:
        raise S3Error("no round has been evaluated yet; train the student first (s3-magic run, or Session.train)")
    parts = final_parts(ctx, r)
    synthetic, real, check, test, score = parts.synthetic, parts.real, parts.check, parts.test, parts.score
    key = f"check_{parts.metric}"
    candidates = []
    infos: dict[str, dict[str, Any]] = {}
    chosen: tuple[Any, dict[str, Any]] | None = None
    recipes = usable_recipes(ctx, synthetic)
    if not check:
        recipes = recipes[:1]  # nothing to choose by: train the first recipe only
        ctx.reporter.message(f"final: the task has no check split, so the first recipe ({recipes[0]}) is used")
    min_gain_se = ctx.task.final.min_gain_se
    kept_scores: list[float] = []
    for recipe in recipes:
        ctx.reporter.message(f"final: training recipe {recipe} on {len(synthetic)} synthetic + {len(real)} real")
        info = infos.setdefault(recipe, {})
        student = fit_recipe(ctx, recipe, synthetic, real, info=info)
        per = parts.per_example(student, check)
        entry: dict[str, Any] = {
            "recipe": recipe,
            key: parts.mean(per),
            f"test_{parts.metric}": score(student, test),
        }
        if "left_out" in info:
            entry["left_out"] = len(info["left_out"])
        if chosen is None:
            chosen, kept_scores = (student, entry), per
        else:
            better, gain, se = replaces(per, kept_scores, min_gain_se)
            entry.update(gain=round(gain, 4), gain_se=round(se, 4), over=chosen[1]["recipe"])
            if better:
                chosen, kept_scores = (student, entry), per
        candidates.append(entry)
    assert chosen is not None
    student, best = chosen
    refit = bool(ctx.task.final.refit_with_check and check)
    kept_info: dict[str, Any] = {}
    if refit:
        ctx.reporter.message(f"final: training {best['recipe']} again with the {len(check)} check examples")
        student = fit_recipe(ctx, best["recipe"], synthetic, [*real, *check], stage="refit", info=kept_info)
    path = save_model(ctx, student, out, r, best, candidates, refit) if getattr(student, "can_save", False) else None
    if path is None:
        ctx.reporter.message("final: this student cannot be saved as a model folder (use student.mode: finetune)")
    result = {
        "round": r,
        "recipe": best["recipe"],
        key: best[key],
        "n_check": len(check),
        "selected_by": steering_metric(ctx) if check else None,
        "min_gain_se": min_gain_se,
        #: the settings the choice was made with (a reader of a stored record can tell whether it is current)
        "final_spec": ctx.task.final.model_dump(),
        f"test_{parts.metric}": score(student, test),
        "refit_with_check": refit,
        "n_train": len(synthetic) + len(real) + (len(check) if refit else 0),
        "n_synthetic": len(synthetic),
        "n_real": len(real) + (len(check) if refit else 0),
        "candidates": candidates,
        #: synthetic examples the kept model was not trained on, by recipe (``agree``: its teacher disagreed)
        "left_out": (kept_info if refit else infos[best["recipe"]]).get("left_out", []),
        "seconds": round(time.time() - started, 2),
        "path": None if path is None else str(path.resolve()),
    }
    ctx.store.set_final(ctx.run_id, result)
    ctx.final_student = student
    return result


def save_model(
    ctx: RunContext,
    student: Any,
    out: str | Path | None,
    round_no: int,
    best: dict[str, Any],
    candidates: list[dict[str, Any]],
    refit: bool,
) -> Path:
    """Write the model folder with its card; it appears whole (replacing an older one) or not at all."""
    target = Path(out).expanduser() if out is not None else final_folder(ctx)
    with staged(target, folder=True) as tmp:
        student.save(str(tmp))
        (tmp / "README.md").write_text(model_card(ctx, round_no, best, candidates, refit), encoding="utf-8")
    return target


def model_card(
    ctx: RunContext, round_no: int, best: dict[str, Any], candidates: list[dict[str, Any]], refit: bool
) -> str:
    """A Hugging Face model card naming the run, its data, its rounds and the check accuracy."""
    task = ctx.task
    qa = task.is_qa
    n_val, n_check = (len(ctx.data.qa.validation), len(ctx.data.qa.check)) if ctx.data.qa else (
        len(ctx.data.validation), len(ctx.data.check))  # fmt: skip
    metric, score = ("f1", "F1") if qa else ("acc", "accuracy")
    rows = [r for r in ctx.store.rounds(ctx.run_id) if r.evaluated]
    kinds = Counter(r.kind for r in ctx.store.examples(ctx.run_id, max_round=round_no, accepted=True) if r.text)
    student = "all-MiniLM-L6-v2 (embedded)" if task.student.model in ("", "embedded", "minilm") else task.student.model
    rounds_text = "round 0" if round_no == 0 else f"rounds 0–{round_no}"
    serves = "extractive question answering" if qa else f"the labels {', '.join(task.label_names)}"
    what = "questions" if qa else "examples"

    def pct(x: Any) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    lines = [
        "---",
        "library_name: transformers",
        f"pipeline_tag: {'question-answering' if qa else 'text-classification'}",
        "tags: [s3-magic, synthetic-data]",
        "---",
        f"# {task.name}: the final S3 model of run `{ctx.run_id}`",
        "",
        f"A {student} student ({task.student.mode}) for {serves}, made by s3-magic "
        f"(Synthesis Step by Step). Task: {task.description or task.name} ({task.kind}).",
        "",
        f"- Synthetic data: the {sum(kinds.values())} accepted {what} of {rounds_text} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); LLM `{task.llm.spec}`.",
        f"- Real labels: {n_val} validation {what}"
        + (f" and, in the last training, the {n_check} check {what}" if refit else "")
        + ".",
        f"- Recipe: `{best['recipe']}`, chosen on the check split from "
        + ", ".join(f"`{c['recipe']}` {pct(c[f'check_{metric}'])}" for c in candidates)
        + f" (in that order of preference: a later one is chosen only when its gain on the check {what}, example by "
        f"example, exceeds {task.final.min_gain_se:g} standard errors)."
        if len(candidates) > 1
        else f"- Recipe: `{best['recipe']}`.",
        f"- **Check {score}: {pct(best[f'check_{metric}'])}** on {n_check} real labelled {what} the loop "
        "never extrapolated, showed to the LLM or judged"
        + (f" (measured before the check {what} were added to the training data)." if refit else "."),
        "",
        f"| round | train | validation {score} | check {score} |",
        "| ---: | ---: | ---: | ---: |",
        *[
            f"| {r.round} | {'' if r.n_train is None else r.n_train} | "
            f"{pct(getattr(r, f'val_{metric}'))} | {pct(getattr(r, f'check_{metric}'))} |"
            for r in rows
        ],
        "",
        f"Validation {score} is optimistic: the loop extrapolates the validation errors. "
        + (
            "Load the model with `AutoModelForQuestionAnswering.from_pretrained(folder)`."
            if qa
            else "Load the model with `AutoModelForSequenceClassification.from_pretrained(folder)`; "
            "`config.id2label` names the labels."
        ),
        "",
    ]
    return "\n".join(lines)
