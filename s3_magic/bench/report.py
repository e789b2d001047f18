"""The benchmark's results: per-arm summaries over seeds, the results JSON and its Markdown tables.

This is the one place that reads the stored test accuracies (``test_acc``), to report them.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from s3_magic.bench.protocol import ARMS, ROUND_ARMS


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def std(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n - 1); None for fewer than two values."""
    return statistics.stdev(values) if len(values) >= 2 else None


def _present(results: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in results if r.get(key) is not None]


def summarise_arm(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean (± std for accuracy) over the seeds of one arm."""
    test = _present(results, "test_acc")
    summary: dict[str, Any] = {
        "n_seeds": len(results),
        "test_acc_mean": mean(test),
        "test_acc_std": std(test),
        "val_acc_mean": mean(_present(results, "val_acc")),
    }
    for key in ("n_train", "prompt_tokens", "completion_tokens", "llm_calls", "seconds", "train_copies_of_test"):
        summary[f"{key}_mean"] = mean(_present(results, key))
    return summary


def per_round(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy after each round, over the seeds that reached it."""
    by_round: dict[int, list[dict[str, Any]]] = {}
    for result in results:
        for row in result["rounds"]:
            by_round.setdefault(row["round"], []).append(row)
    return [
        {
            "round": r,
            "n_seeds": len(rows),
            "test_acc_mean": mean(_present(rows, "test_acc")),
            "test_acc_std": std(_present(rows, "test_acc")),
            "val_acc_mean": mean(_present(rows, "val_acc")),
            "n_train_mean": mean(_present(rows, "n_train")),
        }
        for r, rows in sorted(by_round.items())
    ]


def build_results(
    protocol: dict[str, Any],
    machine: dict[str, Any],
    arm_results: dict[str, list[dict[str, Any]]],
    speed: dict[str, Any] | None,
    timing: dict[str, Any],
) -> dict[str, Any]:
    """The results document: protocol, machine, each arm (summary, per round, per seed), speed, timing."""
    arms = {}
    for arm in ARMS:
        if arm not in arm_results:
            continue
        results = sorted(arm_results[arm], key=lambda r: r["seed"])
        entry: dict[str, Any] = {"title": ARMS[arm], "summary": summarise_arm(results), "seeds": results}
        if arm in ROUND_ARMS:
            entry["per_round"] = per_round(results)
        arms[arm] = entry
    results = {"protocol": protocol, "machine": machine, **timing, "arms": arms, "speed": speed}
    results["gaps"] = paired_gaps(results)
    return results


# -- Markdown --------------------------------------------------------------------------------------------------
def _pct(m: float | None, s: float | None = None) -> str:
    if m is None:
        return "–"
    return f"{100 * m:.1f} ± {100 * s:.1f}" if s is not None else f"{100 * m:.1f}"


def _num(x: float | None, digits: int = 0) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "l" + "r" * 9) -> list[str]:
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
                _num(s["n_train_mean"]),
                _num(s["prompt_tokens_mean"]),
                _num(s["completion_tokens_mean"]),
                _num(s["seconds_mean"]),
            ]
        )
    header = ["arm", "test acc %", "val acc %", "train examples", "prompt tokens", "completion tokens", "seconds"]
    return _table(header, rows)


def rounds_table(results: dict[str, Any]) -> list[str]:
    round_arms = [(arm, results["arms"][arm]) for arm in ROUND_ARMS if arm in results["arms"]]
    if not round_arms:
        return []
    n_rounds = max(len(e["per_round"]) for _, e in round_arms)
    header = ["round"]
    for _, entry in round_arms:
        header += [f"{entry['title']}: test acc %", "val acc %", "train examples"]
    rows = []
    for r in range(n_rounds):
        row = [str(r)]
        for _, entry in round_arms:
            cells = entry["per_round"][r] if r < len(entry["per_round"]) else None
            if cells is None:
                row += ["–", "–", "–"]
            else:
                row += [
                    _pct(cells["test_acc_mean"], cells["test_acc_std"]),
                    _pct(cells["val_acc_mean"]),
                    _num(cells["n_train_mean"]),
                ]
        rows.append(row)
    return _table(header, rows)


#: quality targets of the benchmark: (arm, baseline arm, points the arm should be ahead by)
TARGETS = (("s3", "zerogen", 4.0), ("s3", "gold_val", 5.0), ("s3_plus_gold", "gold_val", 5.0))


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
                         "gap_std": std(diffs), "n_seeds": len(diffs), "met": gap >= wanted})  # fmt: skip
    return gaps


def gaps_table(results: dict[str, Any]) -> list[str]:
    arms = results["arms"]
    rows = []
    for g in results.get("gaps") or []:
        spread = f" ± {g['gap_std']:.1f}" if g["gap_std"] is not None else ""
        rows.append([f"{arms[g['arm']]['title']} − {arms[g['baseline']]['title']}", f"{g['gap_mean']:+.1f}{spread}",
                     f"≥ +{g['target_points']:.0f}", "met" if g["met"] else "not met"])  # fmt: skip
    return _table(["comparison (same seed)", "test acc points", "target", ""], rows, align="lrrl") if rows else []


def speed_table(speed: dict[str, Any]) -> list[str]:
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


def markdown(results: dict[str, Any]) -> str:
    p, m = results["protocol"], results["machine"]
    seeds = ", ".join(str(s) for s in results["seeds"])
    lines = [
        f"# S3 benchmark on SST-2 — profile `{p['name']}`, seeds {seeds}",
        "",
        f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({_threads(m['torch_threads'])}), transformers "
        f"{m['transformers']}, Python {m['python']}; started {results['started_at']}, wall time "
        f"{results['wall_s'] / 60:.1f} min{_load(m)}.",
        "",
        *arms_table(results),
        "",
        f"Test accuracy is the mean ± sample std over {len(results['seeds'])} seed(s) (no ± with one seed); each "
        f"seed splits SST-2 dev into {p['validation']} validation and the rest test sentences. Training examples, "
        "tokens and seconds (summed phases of the run) are means per seed. The test split is only predicted for "
        "this report.",
    ]
    gaps = gaps_table(results)
    if gaps:
        lines += ["", "## Quality targets", "", *gaps]
    rounds = rounds_table(results)
    if rounds:
        lines += ["", "## Accuracy per round", "", *rounds]
    if results.get("speed"):
        lines += ["", "## Speed (same run, same machine)", "", *speed_table(results["speed"])]
    return "\n".join(lines) + "\n"


# -- files -----------------------------------------------------------------------------------------------------
def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` through a temporary file in the same folder, so it is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_results(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """results.json, results.md and accuracy_per_round.png in ``out``; returns their paths."""
    from s3_magic.bench.plot import plot_png

    paths = {"json": out / "results.json", "markdown": out / "results.md", "plot": out / "accuracy_per_round.png"}
    write_atomic(paths["json"], json.dumps(results, indent=2) + "\n")
    write_atomic(paths["markdown"], markdown(results))
    write_atomic(paths["plot"], plot_png(results))
    return paths
