"""The fixed benchmark protocol: tasks, arms, sizes, seeds, and the task each arm runs for each seed.

The protocol is the same code for every benchmark task (:data:`TASKS`); only where the real data comes from
differs. How the data is used, for every arm and seed ``s``:

* **SST-2**: SST-2 dev (872 sentences) is split by the engine's stratified split with seed ``s`` into the 200
  real labelled examples and test (the other 672). Gold-large: 5,000 sentences of ``sst2/train.jsonl``.
* **IMDb**: the 200 real labelled reviews are a stratified sample (seed ``s``) of
  ``imdb/train_sample5000_seed42.jsonl``; test is a fixed stratified sample of 2,000 reviews of
  ``imdb/test.jsonl``, the same for every seed (drawn with seed 0 from the test reviews whose text is not in the
  train sample, each text once, so no labelled or gold review can reappear in it); gold-large is a stratified
  sample (seed ``s``) of 2,000 train-sample reviews outside the 200. Those two samples are written once as JSONL
  files under the run folder (see :mod:`s3_magic_bench.data`); the arms' tasks point at them.
* The S3, S3-without-rationales and ZeroGen arms keep the engine's default check split of the 200 (a quarter,
  stratified by the task seed): never extrapolated, shown to the LLM or judged, the honest estimate each round
  reports and the final model is chosen by. The gold arms turn it off (``check.fraction: 0``): gold-val trains
  on all 200.
* The test split reaches the engine only as ``TaskData.test``: after each training the student predicts it
  and the accuracy is stored as the round's ``test_acc``. No engine step reads that value back, and the
  near-duplicate filter is told not to look at the test texts (``filters.reject_test_copies: false``), so
  no choice of data, epochs, checkpoint, round, recipe or stopping sees the test split. Only
  :mod:`s3_magic_bench.report` reads ``test_acc``, to write the tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from s3_magic import ConfigError, TaskSpec, load_task

#: arm name -> title in the report (formatted with :func:`title_fields`), in the order of the paper's table
ARMS: dict[str, str] = {
    "zerogen": "ZeroGen",
    "s3": "S3",
    "s3_no_rationales": "S3 without rationales",
    "gold_val": "Gold: the {validation} real labelled examples",
    "gold_large": "Gold: {gold_large:,} {task_title} train {unit}",
    "final": "Final: S3's data + the {validation} real labelled examples",
    "s3_oracle": "S3, oracle generator (simulation)",
    "zerogen_oracle": "ZeroGen, oracle generator (simulation)",
}
#: short names of the arms, for the comparisons
SHORT_NAMES = {"zerogen": "ZeroGen", "s3": "S3", "s3_no_rationales": "S3 without rationales", "gold_val": "Gold-val",
               "gold_large": "Gold-large", "final": "Final", "s3_oracle": "S3-oracle",
               "zerogen_oracle": "ZeroGen-oracle"}  # fmt: skip
#: the order arms run in: the final arm and ZeroGen need the S3 arm's run and final training-set size (and
#: ZeroGen-oracle S3-oracle's)
RUN_ORDER = ("gold_val", "gold_large", "s3", "final", "s3_no_rationales", "zerogen", "s3_oracle", "zerogen_oracle")
#: arms that need another arm's result first
NEEDS = {"zerogen": "s3", "final": "s3", "zerogen_oracle": "s3_oracle"}
#: ZeroGen arms: each writes as many accepted examples as the arm it needs (NEEDS) has in its final training set
ZEROGEN_ARMS = ("zerogen", "zerogen_oracle")
#: simulations, not LLM runs: the ``oracle`` backend answers every request with a real labelled example from the
#: gold-large source (never the test split), the one nearest to what was asked; they measure what the loop adds
#: with an ideal generator and are labelled as simulations in every table
ORACLE_ARMS = ("s3_oracle", "zerogen_oracle")
#: arms that are not engine runs but a step on another arm's run (see bench.final)
EXTRA_ARMS = ("final",)
#: arms with error-extrapolation rounds (reported per round)
ROUND_ARMS = ("s3", "s3_no_rationales", "s3_oracle")
#: arms trained on real labels only; they run without a check split
GOLD_ARMS = ("gold_val", "gold_large")
#: arms whose validation accuracy is a training accuracy (they are trained on the validation examples)
TRAINED_ON_VALIDATION = ("gold_val",)

DEFAULT_TASK = "sst2"
DATA = "${S3_MAGIC_DATA}"


@dataclass(frozen=True)
class BenchTask:
    """Where one benchmark task's real data comes from; everything else is the same protocol."""

    name: str
    title: str
    #: the built-in task the arms start from (prompts, filters, LLM length, student max length)
    base_task: str
    #: what one example is called in the report
    unit: str
    #: the labelled pool the real labelled examples are drawn from, stratified by the seed
    pool: str
    #: a separate test file (a fixed stratified sample of ``test_size``, the same for every seed); None: the test
    #: split is the rest of the pool (the engine's ``split``)
    test: str | None = None
    test_size: int | None = None
    test_seed: int = 0
    #: gold-large's file; None: the pool outside the labelled examples
    gold_large_path: str | None = None
    gold_large: int = 5000

    @property
    def splits_pool(self) -> bool:
        return self.test is None


TASKS: dict[str, BenchTask] = {
    "sst2": BenchTask(
        "sst2",
        "SST-2",
        base_task="sst2",
        unit="sentences",
        pool=f"{DATA}/sst2/dev.jsonl",
        gold_large_path=f"{DATA}/sst2/train.jsonl",
        gold_large=5000,
    ),
    "imdb": BenchTask(
        "imdb",
        "IMDb",
        base_task="imdb",
        unit="reviews",
        pool=f"{DATA}/imdb/train_sample5000_seed42.jsonl",
        test=f"{DATA}/imdb/test.jsonl",
        test_size=2000,
        test_seed=0,
        gold_large=2000,
    ),
}


@dataclass(frozen=True)
class SpeedSizes:
    """Sizes of the speed measurements."""

    llm_prompts: int = 128
    llm_max_tokens: int = 64
    naive_prompts: int = 32
    naive_batch: int = 32
    student_train: int = 512
    student_infer: int = 1024
    round_seed_examples: int = 200
    round_errors: int = 50
    round_examples_per_error: int = 5
    cold_start: bool = True


@dataclass(frozen=True)
class Protocol:
    """One benchmark profile on one task. ``full`` is the protocol; ``quick`` and ``tiny`` shrink it for smoke
    tests. Make one with :func:`get_protocol`, which fills in the task's sizes."""

    name: str
    seeds: tuple[int, ...]
    #: the benchmark task (a key of :data:`TASKS`)
    task: str = DEFAULT_TASK
    #: real labelled examples per seed
    validation: int = 200
    #: tasks that split their pool (SST-2): keep a stratified sample of this many pool examples before the split
    #: (None: all 872)
    dev_limit: int | None = None
    #: tasks with a test file (IMDb): the fixed test sample's size (None: the task's, 2,000)
    test_limit: int | None = None
    rationales_per_label: int = 12
    rationales_per_example: int = 2
    seed_examples: int = 300
    examples_per_error: int = 3
    rounds: int = 2
    max_errors_per_round: int | None = None
    #: gold-large's size (None: the task's: 5,000 SST-2 train sentences, 2,000 IMDb train-sample reviews)
    gold_large: int | None = None
    llm: str = "local:embedded"
    #: the oracle arms' pool: a stratified sample of this many gold-large-source examples (see oracle_changes)
    oracle_pool: int = 20_000
    temperature: float = 0.9
    top_p: float = 0.95
    #: changes to the built-in task's student recipe (the same for every arm)
    student: dict[str, Any] = field(default_factory=dict)
    speed: SpeedSizes = field(default_factory=SpeedSizes)

    @property
    def bench_task(self) -> BenchTask:
        return get_task(self.task)

    @property
    def gold_large_size(self) -> int:
        return self.gold_large if self.gold_large is not None else self.bench_task.gold_large

    @property
    def test_size(self) -> int | None:
        """The fixed test sample's size (None on a task whose test split is the rest of its pool)."""
        task = self.bench_task
        if task.splits_pool:
            return None
        return self.test_limit if self.test_limit is not None else task.test_size

    def describe(self) -> dict[str, Any]:
        """The protocol as plain data for the results file."""
        task = self.bench_task
        base = base_task(self)
        return {
            **asdict(self),
            "seeds": list(self.seeds),
            "gold_large": self.gold_large_size,
            "test_limit": self.test_size,
            "base_task": task.base_task,
            "task_title": task.title,
            "unit": task.unit,
            "pool": task.pool,
            "test_path": task.test,
            "test_seed": task.test_seed if task.test else None,
            "gold_large_path": task.gold_large_path or f"{task.pool} outside the labelled examples",
            "check_fraction": base.check.fraction,
            "final_recipes": list(base.final.recipes),
            "student_recipe": student_spec(self).recipe(),
        }


PROFILES: dict[str, Protocol] = {
    "full": Protocol("full", seeds=(0, 1, 2)),
    "quick": Protocol(
        "quick",
        seeds=(0,),
        test_limit=500,
        rationales_per_label=6,
        seed_examples=80,
        examples_per_error=2,
        rounds=1,
        max_errors_per_round=40,
        gold_large=500,
        oracle_pool=2000,
        speed=SpeedSizes(
            llm_prompts=64, student_train=256, student_infer=512, round_seed_examples=100, round_errors=25
        ),
    ),
    # for the test suite: about a minute on 2 quiet cores with the real models
    "tiny": Protocol(
        "tiny",
        seeds=(0,),
        validation=40,
        dev_limit=120,
        test_limit=80,
        rationales_per_label=2,
        seed_examples=10,
        examples_per_error=1,
        rounds=1,
        max_errors_per_round=5,
        gold_large=100,
        oracle_pool=300,
        student={"epochs": 1},
        speed=SpeedSizes(
            llm_prompts=8,
            llm_max_tokens=16,
            naive_prompts=8,
            naive_batch=8,
            student_train=32,
            student_infer=64,
            round_seed_examples=10,
            round_errors=4,
            round_examples_per_error=2,
            cold_start=False,
        ),
    ),
}


def get_task(name: str) -> BenchTask:
    if name not in TASKS:
        raise ConfigError(f"unknown benchmark task {name!r}; use one of {', '.join(TASKS)}")
    return TASKS[name]


def get_protocol(name: str, task: str = DEFAULT_TASK) -> Protocol:
    """Profile ``name`` (full, quick, tiny) on benchmark task ``task`` (sst2, imdb), the task's sizes filled in."""
    if name not in PROFILES:
        raise ConfigError(f"unknown benchmark profile {name!r}; use one of {', '.join(PROFILES)}")
    protocol = replace(PROFILES[name], task=get_task(task).name)
    return replace(protocol, gold_large=protocol.gold_large_size, test_limit=protocol.test_size)


def title_fields(protocol: dict[str, Any]) -> dict[str, Any]:
    """The values arm titles are formatted with, from a protocol description (:meth:`Protocol.describe`)."""
    return {
        "validation": protocol.get("validation", 200),
        "gold_large": protocol.get("gold_large") or 5000,
        "task_title": protocol.get("task_title", "SST-2"),
        "unit": protocol.get("unit", "sentences"),
    }


def arm_title(arm: str, protocol: dict[str, Any]) -> str:
    """The report's title of ``arm`` under ``protocol`` (a :meth:`Protocol.describe` dict)."""
    return ARMS[arm].format(**title_fields(protocol))


def parse_arms(text: str | None) -> list[str]:
    """``"s3,zerogen"`` -> the arms in run order, with the arms they need; None -> all arms."""
    if text is None:
        return list(RUN_ORDER)
    wanted = [a.strip().replace("-", "_") for a in text.split(",") if a.strip()]
    unknown = [a for a in wanted if a not in ARMS]
    if unknown or not wanted:
        named = ", ".join(unknown) or "(none given)"
        raise ConfigError(f"unknown arm(s) {named}; use a comma list of {', '.join(ARMS)}")
    chosen = set(wanted) | {NEEDS[a] for a in wanted if a in NEEDS}
    return [a for a in RUN_ORDER if a in chosen]


def parse_seeds(text: str | None, protocol: Protocol) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; None -> the profile's seeds."""
    if text is None:
        return list(protocol.seeds)
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds takes a comma list of whole numbers such as 0,1,2, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds needs distinct non-negative numbers such as 0,1,2, got {text!r}")
    return seeds


def base_task(protocol: Protocol) -> TaskSpec:
    """The built-in task the arms of ``protocol`` start from."""
    return load_task(protocol.bench_task.base_task)


def student_spec(protocol: Protocol) -> Any:
    """The student recipe every arm trains with (the ``student`` part of a :class:`TaskSpec`): the base task's,
    with the profile's changes."""
    spec = base_task(protocol).student
    return spec.model_copy(update=protocol.student) if protocol.student else spec


def common_changes(protocol: Protocol, seed: int) -> dict[str, Any]:
    """Task changes every arm of ``protocol`` makes for ``seed``, apart from where its data comes from."""
    changes: dict[str, Any] = {
        "seed": seed,
        "llm.spec": protocol.llm,
        "llm.temperature": protocol.temperature,
        "llm.top_p": protocol.top_p,
        "filters.reject_test_copies": False,
        "sizes.rationales_per_label": protocol.rationales_per_label,
        "sizes.rationales_per_example": protocol.rationales_per_example,
        "sizes.seed_examples": protocol.seed_examples,
        "sizes.examples_per_error": protocol.examples_per_error,
        "sizes.rounds": protocol.rounds,
        "sizes.max_errors_per_round": protocol.max_errors_per_round,
        "stop.patience": None,
    }
    if protocol.llm.startswith("local:"):
        changes["llm.options.seed"] = seed  # the local backend's sampling streams depend on it
    changes.update({f"student.{k}": v for k, v in protocol.student.items()})
    return changes


def protocol_folder(runs: str | Path, protocol: Protocol) -> Path:
    """``<runs>/<task>/<profile>``: the arms' runs (one folder per seed) and the data files the protocol writes."""
    return Path(runs) / protocol.task / protocol.name


def data_changes(protocol: Protocol, arm: str, seed: int, runs: str | Path | None) -> dict[str, Any]:
    """Where ``arm``'s validation, test and gold data come from for ``seed``."""
    task = protocol.bench_task
    changes: dict[str, Any] = {}
    if task.splits_pool:
        pool: dict[str, Any] = {"path": task.pool}
        if protocol.dev_limit is not None:
            pool.update(limit=protocol.dev_limit, seed=seed)
        changes.update(validation=pool, split={"validation": protocol.validation, "seed": seed}, test=None)
    else:
        from s3_magic_bench.data import fixed_test_file

        data_dir = _data_dir(runs, protocol, "test")
        changes.update(
            validation={"path": task.pool, "limit": protocol.validation, "seed": seed},
            split=None,
            test={"path": str(fixed_test_file(protocol, data_dir))},
        )
    if arm in GOLD_ARMS:
        changes["check"] = {"fraction": 0.0}
    if arm == "gold_large":
        changes["gold"] = gold_large_source(protocol, seed, runs)
    return changes


def gold_large_source(protocol: Protocol, seed: int, runs: str | Path | None) -> dict[str, Any]:
    """Gold-large's data source for ``seed``: the task's gold-large file (SST-2 train), a stratified sample by the
    seed; a task without one (IMDb) uses its pool outside the seed's labelled examples, a file written once."""
    task = protocol.bench_task
    if task.gold_large_path is not None:
        return {"path": task.gold_large_path, "limit": protocol.gold_large_size, "seed": seed}
    from s3_magic_bench.data import pool_gold_file

    return {"path": str(pool_gold_file(protocol, seed, _data_dir(runs, protocol, "gold-large")))}


def oracle_changes(protocol: Protocol, seed: int, runs: str | Path | None) -> dict[str, Any]:
    """The ``oracle`` LLM of the simulation arms: it answers from gold-large's source (:func:`gold_large_source`,
    the whole file: the pool's own ``limit`` samples it), keeping the pool rows the task's length filters accept
    (and at least 6 words: shorter SST-2 train rows are mostly parse-tree fragments)."""
    filters = base_task(protocol).filters
    return {
        "llm.spec": f"oracle:{gold_large_source(protocol, seed, runs)['path']}",
        "llm.options.seed": seed,
        "llm.options.limit": protocol.oracle_pool,
        "llm.options.min_words": max(6, filters.min_words),
        "llm.options.max_words": filters.max_words,
    }


def _data_dir(runs: str | Path | None, protocol: Protocol, what: str) -> Path:
    if runs is None:
        raise ConfigError(
            f"the {protocol.bench_task.title} {what} sample is written into the benchmark's run folder; pass runs="
        )
    return (protocol_folder(runs, protocol) / "data").resolve()


def arm_task(
    protocol: Protocol, arm: str, seed: int, zerogen_examples: int | None = None, runs: str | Path | None = None
) -> TaskSpec:
    """The task arm ``arm`` runs for ``seed`` (``zerogen_examples``: the S3 arm's final training-set size).

    ``runs`` is the benchmark's run folder; a task with a test file (IMDb) writes its fixed test sample and
    gold-large samples there once (SST-2 needs no files and ignores it).
    """
    if arm not in ARMS or arm in EXTRA_ARMS:
        raise ConfigError(f"unknown arm {arm!r}; use one of {', '.join(a for a in ARMS if a not in EXTRA_ARMS)}")
    if arm in ZEROGEN_ARMS and zerogen_examples is None:
        raise ConfigError(
            f"the {SHORT_NAMES[arm]} arm needs the size of the {SHORT_NAMES[NEEDS[arm]]} arm's final training set; "
            f"run the {NEEDS[arm]} arm"
        )
    changes = common_changes(protocol, seed)
    changes.update(data_changes(protocol, arm, seed, runs))
    if arm in ORACLE_ARMS:
        changes.update(oracle_changes(protocol, seed, runs))
    if arm in ("s3", "s3_oracle"):
        changes["method"] = "s3"
    elif arm == "s3_no_rationales":
        changes["method"] = "s3"
        changes["sizes.rationales_per_example"] = 0
    elif arm in ZEROGEN_ARMS:
        changes.update({"method": "zerogen", "sizes.zerogen_accepted": zerogen_examples, "sizes.rounds": 0})
    else:  # gold_val, gold_large
        changes["method"] = "gold"
    return base_task(protocol).updated(changes)
