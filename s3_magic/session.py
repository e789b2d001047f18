"""``Session``: the plain-Python face of one S3 run. The CLI and the notebook magics are thin
adapters over it.

>>> s = Session.create("tasks/sst2.yaml", folder="s3_runs")   # doctest: +SKIP
>>> s.run()                                                   # doctest: +SKIP
>>> s.rounds_frame()                                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3_magic.engine.context import (
    BackendFactory,
    Reporter,
    RunContext,
    StudentFactory,
    TaskData,
    load_task_data,
    make_backend,
)
from s3_magic.engine.final import RECIPES
from s3_magic.engine.loop import (
    best_round,
    ensure_data,
    ensure_evaluated,
    last_evaluated,
    run_rounds,
    tracked,
)
from s3_magic.engine.rationales import generate_rationales, rationales_by_label
from s3_magic.errors import ConfigError, StoreError
from s3_magic.example import Example
from s3_magic.llm.prices import Price, cost_usd
from s3_magic.prompts import Prompts
from s3_magic.records import FINISHED, PAUSED, ExampleKind, Round, RunStatus, SyntheticExample, to_dicts
from s3_magic.store import RunStore, open_store, run_name_taken, stored_run_ids
from s3_magic.task import TaskSpec, load_task

if TYPE_CHECKING:
    import pandas as pd

    from s3_magic.qa.records import QAExample

DEFAULT_FOLDER = "s3_runs"


class Session:
    """One run of a task in a run folder: create it, step through it, resume it, export it."""

    #: the recipes of the model to keep (``final.recipes``, :meth:`fit_recipe`)
    RECIPES: tuple[str, ...] = RECIPES

    def __init__(
        self,
        task: TaskSpec,
        store: RunStore,
        run_id: str,
        reporter: Reporter | None = None,
        *,
        backend_factory: BackendFactory | None = None,
        student_factory: StudentFactory | None = None,
        data: TaskData | None = None,
    ) -> None:
        self.task = task
        self.store = store
        self.run_id = run_id
        self.prompts = Prompts(task)
        data = data if data is not None else load_task_data(task)
        self.ctx = RunContext(
            task, store, run_id, data, reporter or Reporter(), backend_factory=backend_factory,
            student_factory=student_factory,
        )  # fmt: skip

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        task: TaskSpec | dict[str, Any] | str | Path,
        folder: str | Path = DEFAULT_FOLDER,
        name: str | None = None,
        overrides: dict[str, Any] | None = None,
        *,
        reporter: Reporter | None = None,
        backend_factory: BackendFactory | None = None,
        student_factory: StudentFactory | None = None,
    ) -> Session:
        """Start a new run of ``task`` (a TaskSpec, dict, YAML text or .yaml path) in ``folder``.

        ``reporter`` receives the run's progress and messages. ``backend_factory()`` makes the LLM backend instead
        of the task's ``llm.spec`` (e.g. a backend already loaded), ``student_factory(task)`` each fresh student
        instead of the task's ``student.mode`` (e.g. a classifier of one's own); neither is stored with the run, so
        pass them again to :meth:`open` it."""
        spec, data, backend = _checked(task, overrides, backend_factory)
        try:
            store = RunStore(folder)
            run_id = store.create_run(spec.name, _task_record(spec), run_id=name)
        except BaseException:
            if backend is not None:
                backend.close()
            raise
        session = cls(
            spec, store, run_id, reporter, backend_factory=backend_factory, student_factory=student_factory, data=data
        )
        if backend is not None:
            session.ctx.use_backend(backend)
        return session

    @classmethod
    def dry_run(
        cls,
        task: TaskSpec | dict[str, Any] | str | Path,
        folder: str | Path = DEFAULT_FOLDER,
        name: str | None = None,
        overrides: dict[str, Any] | None = None,
        *,
        reporter: Reporter | None = None,
        backend_factory: BackendFactory | None = None,
    ) -> dict[str, Any]:
        """What a new run of ``task`` would spend (see :meth:`estimate`), after the checks :meth:`create` makes,
        while writing nothing: no run record, and no run folder where there is none."""
        spec, data, backend = _checked(task, overrides, backend_factory)
        if backend is not None:
            backend.close()
        if name is not None and name in stored_run_ids(folder):
            raise run_name_taken(name)
        store = RunStore(folder, in_memory=True)
        run_id = store.create_run(spec.name, _task_record(spec), run_id=name)
        with cls(spec, store, run_id, reporter, data=data) as session:
            return session.estimate()

    @staticmethod
    def run_ids(folder: str | Path = DEFAULT_FOLDER) -> list[str]:
        """The ids of the runs in ``folder``, sorted (empty when it holds none); reads without writing anything."""
        return sorted(stored_run_ids(folder))

    @classmethod
    def open(
        cls,
        run_id: str | None = None,
        folder: str | Path = DEFAULT_FOLDER,
        task: TaskSpec | dict[str, Any] | str | Path | None = None,
        overrides: dict[str, Any] | None = None,
        *,
        reporter: Reporter | None = None,
        backend_factory: BackendFactory | None = None,
        student_factory: StudentFactory | None = None,
    ) -> Session:
        """Open an existing run (the newest when ``run_id`` is None) to inspect or resume it.

        ``task``, when given, must be the task the run was made for; ``overrides`` change settings that
        are safe to change on resume (e.g. ``{"llm.budget_tokens": 100000, "sizes.rounds": 4}``). ``reporter``,
        ``backend_factory`` and ``student_factory`` are those of :meth:`create`.
        """
        store = open_store(folder)
        run_id = run_id or store.latest_run()
        if run_id is None:
            raise StoreError(f"{str(folder)!r} has no runs yet; start one with s3-magic run TASK.yaml")
        record = store.get_run(run_id)["task"]
        spec = TaskSpec.from_dict(record["spec"], base_dir=record.get("base_dir"))
        if task is not None:
            given = load_task(task)
            if given.name != spec.name or given.label_names != spec.label_names or given.kind != spec.kind:
                raise StoreError(
                    f"run {run_id!r} belongs to task {spec.name!r} with labels {spec.label_names}, not to task "
                    f"{given.name!r}; start a new run for it"
                )
        session = cls(spec, store, run_id, reporter, backend_factory=backend_factory, student_factory=student_factory)
        if overrides:
            session.update(overrides)
        return session

    def update(self, overrides: dict[str, Any]) -> None:
        """Change settings of this run in place, e.g. ``{"llm.budget_tokens": 200000, "sizes.rounds": 4}``.

        The task's name, labels, kind and data stay fixed: a run belongs to one task. A run that another
        process is running right now cannot be changed.
        """
        self.store.check_not_running_elsewhere(self.run_id)
        spec = self.task.updated(overrides)
        if (spec.name, spec.label_names, spec.kind) != (self.task.name, self.task.label_names, self.task.kind):
            raise ConfigError("a run's task name, labels and kind cannot change; start a new run instead")
        for part in ("validation", "test", "split", "contexts", "gold"):
            if getattr(spec, part) != getattr(self.task, part):
                raise ConfigError(f"a run's {part} data cannot change; start a new run instead")
        prompts = Prompts(spec)
        _check_student_model(spec)
        same_llm = _calls_part(spec) == _calls_part(self.task)
        backend = None if same_llm or spec.method == "gold" else make_backend(spec, self.ctx.backend_factory)
        self.store.set_run_task(self.run_id, _task_record(spec))
        if spec.student != self.task.student or spec.seed != self.task.seed:
            self.ctx.judge = None  # trained with the old recipe
        self.task = self.ctx.task = spec
        self.prompts = prompts
        if backend is not None:
            self.ctx.use_backend(backend)
        elif self.ctx._llm is not None:
            self.ctx._llm.budget_tokens = spec.llm.budget_tokens
            self.ctx._llm.price, self.ctx._llm.budget_usd = spec.llm.price(), spec.llm.budget_usd

    def close(self) -> None:
        self.ctx.close()
        self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Session run={self.run_id!r} task={self.task.name!r} folder={str(self.store.folder)!r}>"

    @property
    def folder(self) -> Path:
        """The run folder: the run store, the LLM call cache and, by default, the final model."""
        return self.store.folder

    @property
    def status(self) -> RunStatus:
        """The run's status: ``created``, ``running``, ``paused``, ``stopped`` (budget), ``finished``, ``failed``,
        or ``interrupted`` (the process running it is gone)."""
        status: RunStatus = self.store.get_run(self.run_id)["status"]
        return status

    # -- steps ---------------------------------------------------------------------------------
    @contextmanager
    def _step(self, done: str) -> Iterator[None]:
        """Record the run as running during one step, and why it stopped if it did not finish."""
        before = self.store.get_run(self.run_id)
        with tracked(self.ctx):
            yield
        if before["status"] == FINISHED:
            self.store.set_run_status(self.run_id, FINISHED, before["message"])
        else:
            self.store.set_run_status(self.run_id, PAUSED, done)

    def estimate(self) -> dict[str, Any]:
        """A dry run: the LLM calls and tokens the run can still spend, and whether its budget covers them.

        It only reads the run; :meth:`dry_run` estimates a run not started yet without writing anything."""
        from s3_magic.engine.estimate import estimate_run

        return estimate_run(self.ctx, self.prompts)

    def generate_rationales(self) -> dict[str, list[str]]:
        """Step 1: rationales per label (kept if already made or edited)."""
        with self._step("rationales made"):
            return generate_rationales(self.ctx, self.prompts)

    @property
    def rationales(self) -> dict[str, list[str]]:
        return rationales_by_label(self.ctx)

    def set_rationales(self, label: str, texts: list[str]) -> None:
        """Replace a label's rationales (before seed synthesis; later rounds keep the seed data already made)."""
        if label not in self.task.label_names:
            raise ConfigError(f"unknown label {label!r}; use one of {', '.join(self.task.label_names)}")
        for row in self.store.rationales(self.run_id):
            if row["label"] == label:
                self.store.update_rationale(row["id"], deleted=True)
        self.store.add_rationales(self.run_id, label, [t.strip() for t in texts if t.strip()], source="user")

    def synthesize(self) -> Round:
        """Step 2: rationales (if used) and seed data — round 0's data. Returns round 0 (its data stats)."""
        with self._step("seed data made"):
            return ensure_data(self.ctx, self.prompts, 0)

    def train(self) -> Round:
        """Steps 3–4 for the newest round whose data is complete: train, evaluate, store errors; return the round."""
        r = self.next_round()
        if r is None:
            raise StoreError("the newest round is already evaluated; extrapolate errors first (iterate)")
        with self._step(f"evaluated round {r}"):
            return ensure_evaluated(self.ctx, self.prompts, r)

    def extrapolate(self) -> Round:
        """Step 5 alone: make the next round's data from the errors of the newest evaluated round, without training
        on it (:meth:`train` does that next). A round whose data is already made is left as it is. Returns the
        round with its data stats (``new_accepted``, ``llm_calls``, ``data_seconds``, ...)."""
        if self.task.method != "s3":
            raise ConfigError(f"only the s3 method extrapolates errors; this run's method is {self.task.method!r}")
        r = self.next_round()
        r = last_evaluated(self.ctx) + 1 if r is None else r
        if r < 1:
            raise StoreError("round 0 is not evaluated yet; make the seed data and train it first (synthesize, train)")
        with self._step(f"round {r} data made"):
            return ensure_data(self.ctx, self.prompts, r)

    def iterate(self, rounds: int = 1) -> list[Round]:
        """Run ``rounds`` more S3 rounds (extrapolate, train, evaluate); evaluates round 0 first if needed."""
        if rounds < 1:
            raise ConfigError(f"rounds must be at least 1, got {rounds}; pass rounds=1 or more")
        target = max(last_evaluated(self.ctx), 0) + rounds
        if last_evaluated(self.ctx) < 0:
            target = rounds
        return run_rounds(self.ctx, self.prompts, until=target)

    def run(self) -> list[Round]:
        """Run (or resume) the whole task: seed and all its rounds. Returns the round table."""
        return run_rounds(self.ctx, self.prompts)

    def final(self, out: str | Path | None = None) -> dict[str, Any]:
        """Train and save the model a user keeps: the synthetic data of the best round (by check accuracy) and
        the real labels, by the recipe (``final.recipes``) chosen on the check split (see ``final.min_gain_se``).
        The model folder (default ``<folder>/<run id>-final``) loads with ``AutoModelForSequenceClassification``;
        its README.md is a model card. Returns the stored record (see :meth:`final_result`)."""
        from s3_magic.engine.final import train_final

        self.store.check_not_running_elsewhere(self.run_id)
        if self.next_round() is not None:
            raise StoreError("the newest round has data but is not evaluated yet; train it first (train or run)")
        return train_final(self.ctx, out)

    def final_result(self) -> dict[str, Any] | None:
        """The stored record of the last :meth:`final` (round, recipe, check_acc, candidates, path, ...), or None."""
        return self.store.final(self.run_id)

    def best_round(self) -> int:
        """The evaluated round with the highest check accuracy (validation accuracy without a check split), or -1."""
        return best_round(self.ctx)

    def fit_recipe(self, recipe: str, round_no: int | None = None, real: list[Example] | None = None) -> Any:
        """A fresh student trained by one recipe of the model to keep (:attr:`RECIPES`) on the accepted synthetic
        data of round ``round_no`` (default: :meth:`best_round`) and the real labelled examples ``real`` (default: the
        validation and check examples). Nothing is stored or saved: this is for studying the recipes on tuning
        data; :meth:`final` chooses, trains and saves the model to keep."""
        from s3_magic.engine.final import fit_recipe
        from s3_magic.engine.training import training_examples

        r = self.best_round() if round_no is None else round_no
        real = [*self.data.validation, *self.data.check] if real is None else real
        return fit_recipe(self.ctx, recipe, training_examples(self.ctx, r), real)

    @property
    def data(self) -> TaskData:
        """The run's real data: ``validation`` (steers the loop), ``check`` (held out), ``test``, ``contexts``."""
        return self.ctx.data

    def next_round(self) -> int | None:
        """The round whose data exists but is not evaluated, else None."""
        return next((r.round for r in self.store.rounds(self.run_id) if not r.evaluated), None)

    def last_evaluated(self) -> int:
        """The newest evaluated round, or -1."""
        return last_evaluated(self.ctx)

    # -- results -------------------------------------------------------------------------------
    def rounds(self) -> list[Round]:
        """The rounds and their stats, each with ``cost_usd``: what its real LLM calls cost (None: no known price)."""
        price = self.price
        return [r.with_cost(_cost(price, r.prompt_tokens, r.completion_tokens)) for r in self.store.rounds(self.run_id)]

    @property
    def price(self) -> Price | None:
        """What this run's LLM calls cost per million tokens (listed, or ``llm.options.price``); None: unknown."""
        return self.task.llm.price()

    def cost_usd(self) -> float | None:
        """What the run's real LLM calls cost so far in US dollars (None when the model has no known price)."""
        usage = self.usage()
        return _cost(self.price, usage["prompt_tokens"], usage["completion_tokens"])

    def rounds_frame(self) -> pd.DataFrame:
        """The rounds (:meth:`rounds`) as a pandas DataFrame, one row per round."""
        import pandas as pd

        return pd.DataFrame(to_dicts(self.rounds()))

    def errors(self, round_no: int | None = None) -> list[dict[str, Any]]:
        """Validation errors of round ``round_no`` (default: the newest evaluated)."""
        r = last_evaluated(self.ctx) if round_no is None else round_no
        return self.store.errors(self.run_id, r) if r >= 0 else []

    def examples(
        self,
        *,
        round_no: int | None = None,
        max_round: int | None = None,
        accepted: bool | None = None,
        kind: ExampleKind | None = None,
        label: str | None = None,
    ) -> list[SyntheticExample]:
        """Synthetic examples (with their provenance and verdicts), filtered by round (``round_no``, or up to
        ``max_round``), ``accepted``, ``kind`` or ``label``."""
        return self.store.examples(
            self.run_id, max_round=max_round, round_no=round_no, accepted=accepted, kind=kind, label=label
        )

    def training_examples(self, round_no: int | None = None) -> list[Example] | list[QAExample]:
        """What the student of round ``round_no`` (default: the newest evaluated) trains on: the accepted synthetic
        examples of rounds ``0..round_no`` as they are now (edits applied, rejected ones left out), or the gold data
        of the ``gold`` method; for a QA task, :class:`~s3_magic.qa.QAExample` questions."""
        round_no = last_evaluated(self.ctx) if round_no is None else round_no
        if self.task.is_qa:
            from s3_magic.engine.qa_steps import qa_training_examples

            return qa_training_examples(self.ctx, round_no)
        from s3_magic.engine.training import training_examples

        return training_examples(self.ctx, round_no)

    def accept(self, example_id: int, accepted: bool = True) -> None:
        """Include (or exclude) a synthetic example in the next training."""
        self.store.set_accepted(example_id, accepted)
        self.ctx.deduper = None

    def edit(self, example_id: int, text: str, text_b: str | None = None) -> None:
        """Replace an example's text (the next training uses the edited text)."""
        self.store.edit_example(example_id, text, text_b)
        self.ctx.deduper = None

    def usage(self) -> dict[str, int]:
        return self.store.usage(self.run_id)

    def export(self, path: str | Path, format: str = "jsonl", include_rejected: bool = False) -> Path:
        from s3_magic.export import export_run

        return export_run(self.store, self.run_id, path, format=format, include_rejected=include_rejected)


def _checked(
    task: TaskSpec | dict[str, Any] | str | Path, overrides: dict[str, Any] | None, factory: BackendFactory | None
) -> tuple[TaskSpec, TaskData, Any]:
    """The task (with ``overrides``), its data and its LLM backend (None for ``gold``), everything that can be
    checked before a run is written checked: data, prompt templates, the student model's location, and the
    backend (provider, options, API key)."""
    spec = load_task(task)
    if overrides:
        spec = spec.updated(overrides)
    data = load_task_data(spec)
    Prompts(spec)
    _check_student_model(spec)
    return spec, data, make_backend(spec, factory) if spec.method != "gold" else None


def _calls_part(spec: TaskSpec) -> Any:
    """The LLM settings that decide which backend answers (not the budgets or the price)."""
    llm = spec.llm
    return llm.model_copy(update={"budget_tokens": None, "budget_usd": None, "options": llm.backend_options})


def _cost(price: Price | None, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    if price is None:
        return None
    return cost_usd(price, prompt_tokens or 0, completion_tokens or 0)


def _check_student_model(spec: TaskSpec) -> None:
    """Fail now, not after the data is made, when the student model is a local folder that does not exist."""
    from s3_magic.student.models import resolve_student_model

    resolve_student_model(spec.student.model)


def _task_record(spec: TaskSpec) -> dict[str, Any]:
    return {"spec": spec.to_dict(), "base_dir": spec.base_dir}
