"""The fixed benchmark protocol: arms, sizes, seeds, and the task each arm runs for each seed.

How the data is used, for every arm and seed ``s``:

* SST-2 dev (872 sentences) is split by the engine's stratified split with seed ``s`` into validation (200)
  and test (the other 672). Validation drives everything the engine decides (training data of the gold-val
  arm, the errors S3 extrapolates, early stopping).
* The test split reaches the engine only as ``TaskData.test``: after each training the student predicts it
  and the accuracy is stored as the round's ``test_acc``. No engine step reads that value back, and the
  near-duplicate filter is told not to look at the test texts (``filters.reject_test_copies: false``), so
  no choice of data, epochs, checkpoint or stopping sees the test split. Only :mod:`s3_magic.bench.report`
  reads ``test_acc``, to write the final table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from s3_magic.errors import ConfigError
from s3_magic.task import TaskSpec, load_task

#: arm name -> title in the report, in the order of the paper's table
ARMS: dict[str, str] = {
    "zerogen": "ZeroGen",
    "s3": "S3",
    "s3_no_rationales": "S3 without rationales",
    "gold_val": "Gold: 200 validation examples",
    "gold_large": "Gold: 5,000 SST-2 train examples",
    "s3_plus_gold": "Extra: S3's data + the 200 validation examples",
}
#: the order arms run in: ZeroGen needs the size of the S3 arm's final training set
RUN_ORDER = ("gold_val", "gold_large", "s3", "s3_plus_gold", "s3_no_rationales", "zerogen")
#: arms that need another arm's result first
NEEDS = {"zerogen": "s3", "s3_plus_gold": "s3"}
#: arms that are not engine runs but one more training on another arm's data (see bench.extra)
EXTRA_ARMS = ("s3_plus_gold",)
#: arms with error-extrapolation rounds (reported per round)
ROUND_ARMS = ("s3", "s3_no_rationales")

BASE_TASK = "sst2"
GOLD_LARGE_PATH = "${S3_MAGIC_DATA}/sst2/train.jsonl"


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
    """One benchmark profile. ``full`` is the protocol; ``quick`` and ``tiny`` shrink it for smoke tests."""

    name: str
    seeds: tuple[int, ...]
    validation: int = 200
    #: keep a stratified sample of this many dev sentences before the split (None: all 872)
    dev_limit: int | None = None
    rationales_per_label: int = 12
    rationales_per_example: int = 2
    seed_examples: int = 300
    examples_per_error: int = 3
    rounds: int = 2
    max_errors_per_round: int | None = None
    gold_large: int = 5000
    llm: str = "local:embedded"
    temperature: float = 0.9
    top_p: float = 0.95
    #: changes to the built-in task's student recipe (the same for every arm)
    student: dict[str, Any] = field(default_factory=dict)
    speed: SpeedSizes = field(default_factory=SpeedSizes)

    def describe(self) -> dict[str, Any]:
        """The protocol as plain data for the results file."""
        from dataclasses import asdict

        return {**asdict(self), "seeds": list(self.seeds), "base_task": BASE_TASK, "gold_large_path": GOLD_LARGE_PATH}


PROFILES: dict[str, Protocol] = {
    "full": Protocol("full", seeds=(0, 1, 2)),
    "quick": Protocol(
        "quick",
        seeds=(0,),
        rationales_per_label=6,
        seed_examples=80,
        examples_per_error=2,
        rounds=1,
        max_errors_per_round=40,
        gold_large=500,
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
        rationales_per_label=2,
        seed_examples=10,
        examples_per_error=1,
        rounds=1,
        max_errors_per_round=5,
        gold_large=100,
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


def get_protocol(name: str) -> Protocol:
    if name not in PROFILES:
        raise ConfigError(f"unknown benchmark profile {name!r}; use one of {', '.join(PROFILES)}")
    return PROFILES[name]


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


def arm_task(protocol: Protocol, arm: str, seed: int, zerogen_examples: int | None = None) -> TaskSpec:
    """The task arm ``arm`` runs for ``seed`` (``zerogen_examples``: the S3 arm's final training-set size)."""
    if arm not in ARMS or arm in EXTRA_ARMS:
        raise ConfigError(f"unknown arm {arm!r}; use one of {', '.join(a for a in ARMS if a not in EXTRA_ARMS)}")
    changes: dict[str, Any] = {
        "seed": seed,
        "split": {"validation": protocol.validation, "seed": seed},
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
    if protocol.dev_limit is not None:
        changes["validation.limit"] = protocol.dev_limit
        changes["validation.seed"] = seed
    changes.update({f"student.{k}": v for k, v in protocol.student.items()})
    if arm == "s3":
        changes["method"] = "s3"
    elif arm == "s3_no_rationales":
        changes["method"] = "s3"
        changes["sizes.rationales_per_example"] = 0
    elif arm == "zerogen":
        if zerogen_examples is None:
            raise ConfigError("the ZeroGen arm needs the size of the S3 arm's final training set; run the s3 arm")
        changes.update({"method": "zerogen", "sizes.zerogen_accepted": zerogen_examples, "sizes.rounds": 0})
    elif arm == "gold_val":
        changes["method"] = "gold"
    else:  # gold_large
        changes["method"] = "gold"
        changes["gold"] = {"path": GOLD_LARGE_PATH, "limit": protocol.gold_large, "seed": seed}
    return load_task(BASE_TASK).updated(changes)
