"""The benchmark's results: per-arm summaries over seeds, the gaps between the accuracies a run shows and test
accuracy, the quality targets, the results JSON and its Markdown tables.

This is the one place that reads the stored test accuracies (``test_acc``), to report them.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from s3_magic import write_atomic
from s3_magic_bench.protocol import ARMS, ORACLE_ARMS, ROUND_ARMS, SHORT_NAMES, TRAINED_ON_VALIDATION, arm_title


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def std(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n - 1); None for fewer than two values."""
    return statistics.stdev(values) if len(values) >= 2 else None


def _present(results: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in results if r.get(key) is not None]


SUMMED = (
    "n_train", "n_check", "prompt_tokens", "completion_tokens", "llm_calls", "cost_usd", "seconds", "train_seconds",
    "eval_seconds", "gen_seconds", "train_copies_of_test", "labelled_mean_words",
)  # fmt: skip
#: figures reported as mean ± std over seeds: accuracies and the in-run generation rates (see bench.arms)
SPREAD = ("test_acc", "val_acc", "check_acc", "completion_tok_s", "prompt_tok_s", "batch_occupancy")


def summarise_arm(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean (± std for accuracy and generation rates) over the seeds of one arm."""
    summary: dict[str, Any] = {"n_seeds": len(results)}
    for key in SPREAD:
        values = _present(results, key)
        summary[f"{key}_mean"], summary[f"{key}_std"] = mean(values), std(values)
    for key in SUMMED:
        summary[f"{key}_mean"] = mean(_present(results, key))
    return summary


def per_round(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy after each round, over the seeds that reached it."""
    by_round: dict[int, list[dict[str, Any]]] = {}
    for result in results:
        for row in result["rounds"]:
            by_round.setdefault(row["round"], []).append(row)
    out = []
    for r, rows in sorted(by_round.items()):
        entry: dict[str, Any] = {"round": r, "n_seeds": len(rows)}
        for acc in ("test_acc", "val_acc", "check_acc"):
            values = _present(rows, acc)
            entry[f"{acc}_mean"], entry[f"{acc}_std"] = mean(values), std(values)
        entry["n_train_mean"] = mean(_present(rows, "n_train"))
        out.append(entry)
    return out


# -- how far the accuracies a run shows are from test accuracy -------------------------------------------------
#: the estimates a run shows: measure name -> key of the stored accuracy
ESTIMATES = {"validation": "val_acc", "check": "check_acc"}


def estimate_points(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The evaluated points of one arm's result: every round, or the result itself for an arm without rounds."""
    return result.get("rounds") or [result]


def signed_gaps(results: Sequence[dict[str, Any]], key: str) -> list[float]:
    """``key`` accuracy minus test accuracy, in points, at every evaluated round of every seed that has both."""
    return [
        100 * (float(p[key]) - float(p["test_acc"]))
        for result in results
        for p in estimate_points(result)
        if p.get(key) is not None and p.get("test_acc") is not None
    ]


def estimate_gaps(arms: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per arm: the mean signed gap (validation − test) and (check − test) in points over seeds × rounds, with
    the sample std and the number of points. An arm trained on its validation examples has no validation gap (its
    validation accuracy is a training accuracy); an arm without a check split has no check gap."""
    out: dict[str, dict[str, Any]] = {}
    for arm, entry in arms.items():
        gaps: dict[str, Any] = {}
        for measure, key in ESTIMATES.items():
            if measure == "validation" and arm in TRAINED_ON_VALIDATION:
                continue
            diffs = signed_gaps(entry["seeds"], key)
            if diffs:
                gaps[measure] = {"mean": mean(diffs), "std": std(diffs), "n": len(diffs)}
        if gaps:
            out[arm] = gaps
    return out


def build_results(
    protocol: dict[str, Any],
    machine: dict[str, Any],
    arm_results: dict[str, list[dict[str, Any]]],
    speed: dict[str, Any] | None,
    timing: dict[str, Any],
) -> dict[str, Any]:
    """The results document: protocol, machine, each arm (summary, per round, per seed), the estimate gaps, the
    quality targets, speed, timing."""
    arms = {}
    for arm in ARMS:
        if arm not in arm_results:
            continue
        results = sorted(arm_results[arm], key=lambda r: r["seed"])
        title = arm_title(arm, protocol)
        entry: dict[str, Any] = {"title": title, "summary": summarise_arm(results), "seeds": results}
        if arm in ROUND_ARMS:
            entry["per_round"] = per_round(results)
        arms[arm] = entry
    results = {"protocol": protocol, "machine": machine, **timing, "arms": arms, "speed": speed}
    results["estimate_gaps"] = estimate_gaps(arms)
    results["gaps"] = paired_gaps(results)
    results["check_gap_target"] = check_gap_target(results["estimate_gaps"])
    return results


#: quality targets, paired by seed: (arm, baseline arm, test-accuracy points the arm should be ahead by)
#: (None: a comparison reported without a target, such as the simulation arms')
TARGETS: tuple[tuple[str, str, float | None], ...] = (
    ("s3", "zerogen", 4.0), ("s3", "gold_val", 0.0), ("final", "gold_val", 3.0), ("s3_oracle", "zerogen_oracle", None)
)  # fmt: skip
#: points of floating-point noise a target comparison forgives (accuracies are fractions of whole examples)
EPS = 1e-9
#: quality target on the honest estimate: |mean (check − test)| of this arm over seeds × rounds, at most these points
CHECK_GAP_TARGET = ("s3", 1.5)


def paired_gaps(results: dict[str, Any]) -> list[dict[str, Any]]:
    """For each target: the arm's test accuracy minus the baseline's, per seed both ran, mean ± std, in points."""
    arms = results["arms"]
    gaps = []
    for arm, base, wanted in TARGETS:
        if arm not in arms or base not in arms:
            continue
        base_by_seed = {r["seed"]: r.get("test_acc") for r in arms[base]["seeds"]}
        diffs = [
            100 * (r["test_acc"] - base_by_seed[r["seed"]])
            for r in arms[arm]["seeds"]
            if r.get("test_acc") is not None and base_by_seed.get(r["seed"]) is not None
        ]
        if diffs:
            gap = mean(diffs)
            gaps.append({"arm": arm, "baseline": base, "target_points": wanted, "gap_mean": gap,
                         "gap_std": std(diffs), "n_seeds": len(diffs),
                         "met": None if wanted is None else gap >= wanted - EPS})  # fmt: skip
    return gaps


def check_gap_target(gaps: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """|mean signed (check − test)| of the target's arm against its bound, or None without check accuracies."""
    arm, bound = CHECK_GAP_TARGET
    check = gaps.get(arm, {}).get("check")
    if check is None:
        return None
    size = abs(check["mean"])
    return {"arm": arm, "gap_mean": check["mean"], "gap_std": check["std"], "n": check["n"], "abs_gap": size,
            "target_points": bound, "met": size <= bound + EPS}  # fmt: skip


# -- Markdown --------------------------------------------------------------------------------------------------
def _pct(m: float | None, s: float | None = None) -> str:
    if m is None:
        return "–"
    return f"{100 * m:.1f} ± {100 * s:.1f}" if s is not None else f"{100 * m:.1f}"


def _points(m: float | None, s: float | None = None) -> str:
    if m is None:
        return "–"
    return f"{m:+.1f} ± {s:.1f}" if s is not None else f"{m:+.1f}"


def _num(x: float | None, digits: int = 0) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _spread(m: float | None, s: float | None = None, digits: int = 1) -> str:
    """``m ± s`` (``m`` alone without a std, ``–`` without a value)."""
    if m is None:
        return "–"
    return f"{m:,.{digits}f} ± {s:,.{digits}f}" if s is not None else f"{m:,.{digits}f}"


def _usd(x: float | None) -> str:
    """Dollars: ``–`` when the price is unknown, cents, or four decimals below a cent (``$0.00`` for nothing)."""
    if x is None:
        return "–"
    return f"${x:.4f}" if 0 < x < 0.01 else f"${x:,.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if align[i] == "r" else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def arms_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for entry in results["arms"].values():
        s = entry["summary"]
        rows.append(
            [
                entry["title"],
                _pct(s["test_acc_mean"], s["test_acc_std"]),
                _pct(s["val_acc_mean"]),
                _pct(s.get("check_acc_mean")),
                _num(s["n_train_mean"]),
                _num(s["prompt_tokens_mean"]),
                _num(s["completion_tokens_mean"]),
                _usd(s.get("cost_usd_mean")),
                _num(s["seconds_mean"]),
            ]
        )
    header = ["arm", "test acc %", "val acc %", "check acc %", "train examples", "prompt tokens",
              "completion tokens", "dollars", "seconds"]  # fmt: skip
    return _table(header, rows)


ROUND_COLUMNS = (("test acc %", "test_acc"), ("val acc %", "val_acc"), ("check acc %", "check_acc"))


def rounds_table(results: dict[str, Any]) -> list[str]:
    """Accuracy per round of the S3 arms: test (± std), validation and check accuracy, training examples."""
    round_arms = [(arm, results["arms"][arm]) for arm in ROUND_ARMS if arm in results["arms"]]
    if not round_arms:
        return []
    n_rounds = max(len(e["per_round"]) for _, e in round_arms)
    header = ["round"]
    for _, entry in round_arms:
        header += [f"{entry['title']}: test acc %", "val acc %", "check acc %", "train examples"]
    rows = []
    for r in range(n_rounds):
        row = [str(r)]
        for _, entry in round_arms:
            cells = entry["per_round"][r] if r < len(entry["per_round"]) else None
            if cells is None:
                row += ["–"] * 4
            else:
                row += [
                    _pct(cells["test_acc_mean"], cells["test_acc_std"]),
                    _pct(cells["val_acc_mean"]),
                    _pct(cells.get("check_acc_mean")),
                    _num(cells["n_train_mean"]),
                ]
        rows.append(row)
    return _table(header, rows)


def _target(points: float, at_most: bool = False) -> str:
    if at_most:
        return f"≤ {points:g}"
    return "≥ 0" if points == 0 else f"≥ {points:+g}"


def gaps_table(results: dict[str, Any]) -> list[str]:
    """The quality targets: paired test-accuracy differences, and the size of the S3 arm's check − test gap."""
    rows = []
    for g in results.get("gaps") or []:
        name = f"{SHORT_NAMES[g['arm']]} − {SHORT_NAMES[g['baseline']]}"
        if g["target_points"] is None:
            rows.append([name, _points(g["gap_mean"], g["gap_std"]), "–", "simulation, no target"])
            continue
        rows.append([name, _points(g["gap_mean"], g["gap_std"]), _target(g["target_points"]),
                     "met" if g["met"] else "not met"])  # fmt: skip
    c = results.get("check_gap_target")
    if c:
        name = f"size of the mean (check − test), {SHORT_NAMES[c['arm']]}, {c['n']} seed × round points"
        rows.append([name, f"{c['abs_gap']:.1f}", _target(c["target_points"], at_most=True),
                     "met" if c["met"] else "not met"])  # fmt: skip
    return _table(["comparison (same seed)", "points", "target", ""], rows, align="lrrl") if rows else []


def estimate_gaps_table(results: dict[str, Any]) -> list[str]:
    gaps = results.get("estimate_gaps") or {}
    rows = []
    for arm, entry in results["arms"].items():
        if arm not in gaps:
            continue
        g = gaps[arm]
        cells = [entry["title"]]
        for measure in ESTIMATES:
            cells.append(_points(g[measure]["mean"], g[measure]["std"]) if measure in g else "–")
        cells.append(str(max(m["n"] for m in g.values())))
        rows.append(cells)
    if not rows:
        return []
    return _table(["arm", "validation − test, points", "check − test, points", "points (seeds × rounds)"], rows)


def final_table(results: dict[str, Any]) -> list[str]:
    """Per seed: the S3 round the final model took the synthetic data of, the recipe, check and test accuracy."""
    entry = results["arms"].get("final")
    if not entry:
        return []
    rows = []
    for r in entry["seeds"]:
        candidates = ", ".join(
            f"{c['recipe']} {_pct(c.get('check_acc'))} / {_pct(c.get('test_acc'))}" for c in r.get("candidates") or []
        )
        rows.append([str(r["seed"]), _num(r.get("round")), str(r.get("recipe") or "–"), _pct(r.get("check_acc")),
                     _pct(r.get("test_acc")), _num(r.get("n_synthetic")), _num(r.get("n_real")),
                     candidates or "–"])  # fmt: skip
    header = ["seed", "S3 round (best check acc)", "recipe", "check acc %", "test acc %", "synthetic", "real",
              "candidates: check / test acc %"]  # fmt: skip
    return _table(header, rows, align="lrlrrrrl")


def generation_rows(results: dict[str, Any], micro_tok_s: float | None = None) -> list[list[str]]:
    """One speed-table row per arm whose runs made real LLM calls: completion tokens/s (prompt tokens/s; batch
    occupancy), mean ± std over seeds, and completion tokens/s as a multiple of the micro figure."""
    rows = []
    for entry in results["arms"].values():
        s = entry["summary"]
        completion = s.get("completion_tok_s_mean")
        if completion is None:
            continue
        occupancy = s.get("batch_occupancy_mean")
        share = "–" if occupancy is None else f"{_pct(occupancy, s.get('batch_occupancy_std'))} %"
        rows.append(
            [
                f"in-run LLM generation, {entry['title']}: completion tokens/s (prompt tokens/s; batch occupancy)",
                f"{_spread(completion, s.get('completion_tok_s_std'))} "
                f"({_spread(s.get('prompt_tok_s_mean'), s.get('prompt_tok_s_std'))}; {share})",
                "–",
                f"{completion / micro_tok_s:.2f}× micro" if micro_tok_s else "–",
            ]
        )
    return rows


def speed_table(speed: dict[str, Any], results: dict[str, Any] | None = None) -> list[str]:
    """The speed figures; with ``results``, each LLM arm's in-run generation beside the micro LLM figure."""
    rows = []
    llm = speed.get("llm")
    if llm:
        rows.append(
            [
                f"LLM generation, tokens/s (batch {llm['batch_size']}, {llm['dtype']} vs `model.generate` "
                f"batch {llm.get('naive_batch_size', '–')}, fp32)",
                _num(llm["tokens_per_s"], 1),
                _num(llm.get("naive_tokens_per_s"), 1),
                f"{llm['ratio']:.2f}×" if llm.get("ratio") else "–",
            ]
        )
    if results is not None:
        rows += generation_rows(results, llm.get("tokens_per_s") if llm else None)
    student = speed.get("student")
    if student:
        for kind in ("finetune", "infer"):
            name = "fine-tune" if kind == "finetune" else "inference"
            rows.append(
                [
                    f"student {name}, examples/s ({_threads(student['threads'])})",
                    _num(student[f"{kind}_ex_per_s"], 1),
                    _num(student[f"naive_{kind}_ex_per_s"], 1),
                    f"{student[f'{kind}_ratio']:.2f}×",
                ]
            )
    rnd = speed.get("round")
    if rnd:
        rows.append(
            [
                f"one error-extrapolation round, s (train {rnd['n_train']} + evaluate {rnd['n_validation']} + "
                f"extrapolate {rnd['errors_extrapolated']} errors × {rnd['examples_per_error']})",
                f"{rnd['seconds']:.1f} ({rnd['train_s']:.1f} + {rnd['evaluate_s']:.1f} + {rnd['extrapolate_s']:.1f})",
                "–",
                "–",
            ]
        )
    ext = speed.get("load_ext")
    if ext:
        rows.append(["`%load_ext s3_magic`, s", f"{ext['seconds']:.3f}", "–", "–"])
    ready = speed.get("llm_ready")
    if ready:
        rows.append(["embedded LLM ready in a fresh process, warm cache, s", f"{ready['warm_s']:.1f}", "–", "–"])
        if "cold_s" in ready:
            rows.append(["embedded LLM ready, cold (empty cache: converts the GGUF file), s", f"{ready['cold_s']:.1f}",
                         "–", "–"])  # fmt: skip
    return _table(["measure", "s3-magic", "naive", "ratio"], rows)


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _load(machine: dict[str, Any]) -> str:
    """The 1-minute load average at start and end (other processes on the machine slow every figure down)."""
    start, end = machine.get("load_average"), machine.get("load_average_end")
    if not start or not end:
        return ""
    return f"; load average {start[0]:.1f} at the start, {end[0]:.1f} at the end"


def _short(path: str | None) -> str:
    return "–" if path is None else path.replace("${S3_MAGIC_DATA}/", "")


def _first(results: dict[str, Any], arm: str, key: str) -> Any:
    seeds = results["arms"].get(arm, {}).get("seeds") or []
    return seeds[0].get(key) if seeds else None


def data_note(results: dict[str, Any]) -> str:
    """Where each seed's real labelled examples, check split, test split and gold-large come from."""
    p = results["protocol"]
    unit, n, title = p.get("unit", "sentences"), p["validation"], p.get("task_title", "SST-2")
    if p.get("test_path"):
        text = (
            f"Each seed draws {n} real labelled {unit} (stratified by the seed) from `{_short(p.get('pool'))}`; the "
            f"test split is a fixed stratified sample of {p['test_limit']:,} {unit} of `{_short(p['test_path'])}`, "
            f"the same for every seed (the test {unit} that are not in the labelled pool, each text once), and "
            f"gold-large {p['gold_large']:,} pool {unit} outside the {n}."
        )
    else:
        n_test = next((r.get("n_test") for e in results["arms"].values() for r in e["seeds"] if r.get("n_test")), None)
        rest = f"{n_test:,}" if n_test else "the other"
        text = (
            f"Each seed splits {title} dev (stratified by the seed) into {n} real labelled {unit} and {rest} test "
            f"{unit}; gold-large is {p['gold_large']:,} {unit} of `{_short(p.get('gold_large_path'))}`."
        )
    n_check = next((_first(results, a, "n_check") for a in ("s3", "zerogen", "s3_no_rationales")
                    if _first(results, a, "n_check")), None)  # fmt: skip
    if n_check:
        text += (
            f" The S3, S3-without-rationales and ZeroGen arms hold {n_check} of the {n} out as the check split (never"
            f" extrapolated, shown to the LLM or judged; the final model is chosen by it) and steer by the other "
            f"{n - n_check}; the gold arms have no check split (gold-val trains on all {n})."
        )
    if any(a in results["arms"] for a in ORACLE_ARMS):
        text += (
            " The oracle arms are a simulation, not an LLM run: the `oracle` backend answers every request with a real "
            f"labelled {unit[:-1]} of the asked label from gold-large's source (never the test split), never the same "
            "one twice: the one nearest in MiniLM embedding to the error being extrapolated (or to the rationales), a "
            "random one for ZeroGen-oracle, which matches S3-oracle's training-set size. They measure what error "
            "extrapolation adds when the generator is ideal; they use no tokens."
        )
    return text


def student_note(results: dict[str, Any]) -> str:
    """The student recipe, the length of the real examples, and what training and evaluation cost."""
    p = results["protocol"]
    recipe = p.get("student_recipe") or {}
    parts = []
    if recipe:
        how = "fine-tuned" if recipe.get("mode") == "finetune" else f"in {recipe.get('mode')} mode"
        parts.append(
            f"Student: `{recipe.get('model')}`, {how}, {recipe.get('epochs')} epochs, max length "
            f"{recipe.get('max_length')} tokens (the `{p.get('base_task')}` task's setting), the same for every arm."
        )
    s3 = results["arms"].get("s3")
    if s3:
        s = s3["summary"]
        words = s.get("labelled_mean_words_mean")
        if words is not None:
            parts.append(f"The real labelled {p.get('unit', 'examples')} average {words:.0f} words.")
        if s.get("train_seconds_mean") is not None:
            parts.append(
                f"Per seed, the S3 arm's trainings took {s['train_seconds_mean']:.0f} s and its evaluations "
                f"(validation, check and test) {s['eval_seconds_mean']:.0f} s in all."
            )
    return " ".join(parts)


GENERATION_NOTE = (
    "In-run LLM generation: the arm's real LLM calls during its runs, tokens per second of the time spent waiting "
    "for them, averaged over its rounds weighted by that time, mean ± std over seeds (calls answered from the cache "
    "are not counted); batch occupancy is the share of the batch's rows still generating per decode step (batching "
    "backends only). The micro figure is one batch of the speed section's prompts; the ratio is in-run completion "
    "tokens/s over it."
)


def markdown(results: dict[str, Any]) -> str:
    p, m = results["protocol"], results["machine"]
    seeds = ", ".join(str(s) for s in results["seeds"])
    lines = [
        f"# S3 benchmark on {p.get('task_title', 'SST-2')} — profile `{p['name']}`, seeds {seeds}",
        "",
        f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({_threads(m['torch_threads'])}), transformers "
        f"{m['transformers']}, Python {m['python']}; started {results['started_at']}, wall time "
        f"{results['wall_s'] / 60:.1f} min{_load(m)}.",
        "",
        *arms_table(results),
        "",
        f"Test accuracy is the mean ± sample std over {len(results['seeds'])} seed(s) (no ± with one seed). "
        + data_note(results)
        + " Validation and check accuracy are those of the last round (the final arm: the check accuracy its recipe"
        " was chosen by). Training examples, tokens, dollars (what the arm's LLM calls cost at the price of its LLM:"
        " $0.00 on local compute, – where the model has no known price) and seconds (summed phases of the run) are "
        "means per seed. The test split is only predicted for this report.",
    ]
    student = student_note(results)
    if student:
        lines += ["", student]
    gaps = gaps_table(results)
    if gaps:
        lines += ["", "## Quality targets", "", *gaps]
    estimates = estimate_gaps_table(results)
    if estimates:
        lines += [
            "",
            "## Validation and check accuracy against test accuracy",
            "",
            *estimates,
            "",
            "Mean signed gap ± sample std in points over every evaluated round of every seed (the final arm: one "
            "point per seed); positive: the accuracy shown during the run was higher than test accuracy. The loop "
            "extrapolates the validation errors, so validation accuracy flatters the student; the check split is "
            "held out of the loop. Gold-val's validation accuracy is its training accuracy and is left out.",
        ]
    final = final_table(results)
    if final:
        lines += ["", "## Final model", "", *final]
    rounds = rounds_table(results)
    if rounds:
        lines += ["", "## Accuracy per round", "", *rounds]
    speed = speed_table(results.get("speed") or {}, results)
    if len(speed) > 2:  # more than the header and its marks
        lines += ["", "## Speed (same run, same machine)", "", *speed]
        if generation_rows(results):
            lines += ["", GENERATION_NOTE]
    return "\n".join(lines) + "\n"


# -- files -----------------------------------------------------------------------------------------------------
def write_results(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """results.json, results.md and accuracy_per_round.png in ``out``; returns their paths."""
    from s3_magic_bench.plot import plot_png

    paths = {"json": out / "results.json", "markdown": out / "results.md", "plot": out / "accuracy_per_round.png"}
    write_atomic(paths["json"], json.dumps(results, indent=2) + "\n")
    write_atomic(paths["markdown"], markdown(results))
    write_atomic(paths["plot"], plot_png(results))
    return paths
