"""The task spec: a typed, self-validating config that round-trips to dict and YAML.

Unknown keys anywhere are an error that names the key. Every validation problem becomes one
:class:`~s3_magic.errors.ConfigError` line that says where and what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from s3_magic.data import DataSource
from s3_magic.errors import ConfigError
from s3_magic.llm import backend_entry, parse_spec
from s3_magic.llm.prices import Price, override_price, price_for
from s3_magic.student import student_entry, student_modes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LabelSpec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    #: the words used for this label inside prompts (default: the name), e.g. "definitely true"
    word: str | None = None

    @property
    def prompt_word(self) -> str:
        return self.word or self.name


class Sizes(_Strict):
    rationales_per_label: int = Field(default=10, ge=1, le=200)
    #: rationales sampled for each seed example; 0 synthesises seeds without rationales
    rationales_per_example: int = Field(default=3, ge=0, le=20)
    seed_examples: int = Field(default=200, ge=1)
    examples_per_error: int = Field(default=3, ge=1, le=50)
    rounds: int = Field(default=2, ge=0, le=50)
    #: cap on errors extrapolated per round (the most confident mistakes first); None = all
    max_errors_per_round: int | None = Field(default=None, ge=1)
    #: ZeroGen only: keep writing examples until this many pass the filters (at most 4x as many prompts);
    #: None = exactly seed_examples prompts
    zerogen_accepted: int | None = Field(default=None, ge=1)
    #: S3 seed data only: each seed prompt of label L is a conversation in which this many real validation
    #: examples of L (sampled per prompt by the task seed; pair tasks: real first text + second text pairs) are the
    #: LLM's own earlier answers before the final request; their uids go into the example's origin. 0 = off
    demonstrations: int = Field(default=0, ge=0, le=10)
    #: the rationale prompt of label L first shows this many real validation examples of L (sampled per call by
    #: the task seed; their uids are kept with the rationales and in the seed examples' origin). 0 = off
    rationale_demonstrations: int = Field(default=0, ge=0, le=10)

    @model_validator(mode="after")
    def _k_le_K(self) -> Sizes:
        if self.rationales_per_example > self.rationales_per_label:
            raise ValueError(
                f"rationales_per_example ({self.rationales_per_example}) cannot exceed "
                f"rationales_per_label ({self.rationales_per_label})"
            )
        return self


class CheckSpec(_Strict):
    """The check split: real labelled examples held out of the loop for an honest estimate.

    Taken (stratified by label, by the task seed) from the validation examples before anything else reads them,
    it is never extrapolated, never shown to the LLM and never read by the judge. Each round reports its accuracy
    beside validation accuracy (which the loop itself extrapolates and so flatters the student); early stopping,
    the choice of the final round and the final model's recipe read check accuracy only. On a pair task all pairs
    that share a first text (premise) go to the same side, so no check premise reaches the LLM.
    """

    #: share of the labelled validation examples held out as the check split; 0 turns the check split off
    fraction: float = Field(default=0.25, ge=0.0, lt=1.0)
    #: number of check examples instead of a fraction
    size: int | None = Field(default=None, ge=0)


#: a way of training the final model (see ``FinalSpec.recipes``)
Recipe = Literal["real", "joint", "weighted", "two_stage", "agree"]
_DEFAULT_RECIPES: tuple[Recipe, ...] = ("agree", "joint", "real")


class FinalSpec(_Strict):
    """The final model: the student trained on the synthetic data of the best round and the real labels."""

    #: recipes tried, each scored on the check split (the best one is kept): ``real`` (the real labels only),
    #: ``joint`` (synthetic and real pooled), ``weighted`` (pooled, the real labels weighing as much as all the
    #: synthetic data), ``two_stage`` (synthetic first, then the real labels), ``agree`` (pooled, leaving out the
    #: synthetic examples a student trained on the real labels labels otherwise), in order of preference (see
    #: ``min_gain_se``); with no check split the first is used
    recipes: list[Recipe] = Field(default_factory=lambda: list(_DEFAULT_RECIPES), min_length=1)
    #: after choosing, train the chosen recipe once more with the check examples added to the real labels
    refit_with_check: bool = True
    #: a later recipe replaces the one chosen so far only when its mean gain on the check split, example by
    #: example, exceeds this many standard errors of that gain (0: the best check score wins, however small
    #: the margin); the first recipe is the one kept when the check split cannot tell them apart
    min_gain_se: float = Field(default=1.0, ge=0.0)


class StopSpec(_Strict):
    #: stop after this many rounds without a check-accuracy gain of at least min_delta (validation accuracy where
    #: the task has no check split); None = run all rounds
    patience: int | None = Field(default=None, ge=1)
    min_delta: float = Field(default=0.0, ge=0.0)


class LLMSpec(_Strict):
    spec: str = "local:embedded"
    temperature: float = Field(default=0.9, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=96, ge=1, le=8192)
    #: backend options, checked against the backend's own options model (s3_magic/llm/options.py), e.g. batch_size
    #: (local), concurrency / base_url (APIs); ``price: {input: .., output: ..}`` (USD per million tokens), which every
    #: backend accepts, is not passed to the backend: it replaces the listed price (s3_magic/llm/prices.py)
    options: dict[str, Any] = Field(default_factory=dict)
    #: stop the run cleanly once this many tokens (prompt + completion, real calls only) are spent
    budget_tokens: int | None = Field(default=None, ge=1)
    #: stop the run cleanly once its real calls cost this many US dollars (at the price of ``price_for``)
    budget_usd: float | None = Field(default=None, gt=0)

    @field_validator("spec")
    @classmethod
    def _spec_shape(cls, v: str) -> str:
        parse_spec(v)  # raises BackendError with the list of providers
        return v

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "api_key" in v:
            raise ValueError("do not put API keys in the task; set the provider's environment variable instead")
        if v.get("price") is not None:
            price = override_price(v["price"])  # raises a one-line ValueError
            v = {**v, "price": {"input": price.input_per_mtok, "output": price.output_per_mtok}}
        spec = info.data.get("spec")
        if spec is not None:  # (a bad spec failed already)
            provider = parse_spec(spec)[0]
            rest = {k: x for k, x in v.items() if k != "price"}
            backend_entry(provider).options.check(rest, f"the {provider} backend", "llm.options.", also=("price",))
        return v

    @model_validator(mode="after")
    def _budget_priced(self) -> LLMSpec:
        if self.budget_usd is not None and self.price() is None:
            raise ValueError(
                f"budget_usd needs a price, and {self.spec!r} has none listed; set llm.options.price: "
                "{input: USD, output: USD} (per million tokens)"
            )
        return self

    def price(self) -> Price | None:
        """What this LLM's calls cost (see :func:`s3_magic.llm.prices.price_for`); None when unknown."""
        return price_for(self.spec, self.options)

    @property
    def backend_options(self) -> dict[str, Any]:
        """``options`` as the backend takes them (without ``price``, which only the accounting reads)."""
        return {k: v for k, v in self.options.items() if k != "price"}


class StudentSpec(BaseModel):
    """The student: ``model`` (its encoder: ``embedded``, a model folder or a Hub id), ``mode`` (a registered
    student mode: ``finetune``, ``fast``) and, beside them, the mode's options (e.g. ``epochs: 3``; each mode's
    are listed in s3_magic/student/options.py, with their defaults and bounds).

    An option only another mode takes is kept but not passed (a task written for ``finetune`` runs with
    ``--student-mode fast``); a name no mode takes is an error that lists the options of the chosen mode.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    model: str = "embedded"
    mode: str = "finetune"

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, v: str) -> str:
        if v not in student_modes():
            raise ValueError(f"unknown student mode {v!r}; use one of {', '.join(student_modes())}")
        return v

    @model_validator(mode="after")
    def _mode_options(self) -> StudentSpec:
        given = dict(self.model_extra or {})
        unknown = {k: v for k, v in given.items() if not _student_option(k)}
        for mode in [self.mode, *(m for m in student_modes() if m != self.mode)]:
            options = student_entry(mode).options
            mine = {k: v for k, v in given.items() if k in options.model_fields}
            if mode == self.mode:  # names no mode takes are reported with the chosen mode's options
                mine.update(unknown)
            if mine:
                options.check(mine, f"the {mode} student", "student.", also=("model", "mode"))
        return self

    @property
    def mode_options(self) -> dict[str, Any]:
        """The options given for this mode (those of other modes left out), as :func:`make_student` takes them."""
        fields = student_entry(self.mode).options.model_fields
        return {k: v for k, v in (self.model_extra or {}).items() if k in fields}

    @property
    def options(self) -> Any:  # -> the mode's Options model
        """This mode's options, typed, with the defaults of those not given."""
        return student_entry(self.mode).options.check(self.mode_options, f"the {self.mode} student", "student.")

    def recipe(self) -> dict[str, Any]:
        """``model``, ``mode`` and every option of the mode (defaults included): what the student trains with."""
        return {"model": self.model, "mode": self.mode, **self.options.model_dump()}


def _student_option(name: str) -> bool:
    """Whether some registered student mode takes an option called ``name``."""
    return any(name in student_entry(m).options.model_fields for m in student_modes())


class FilterSpec(_Strict):
    min_words: int = Field(default=3, ge=1)
    max_words: int = Field(default=150, ge=1)
    #: similarity at or above which a new example counts as a near duplicate (1.0 = exact only)
    near_duplicate: float = Field(default=0.9, gt=0.0, le=1.0)
    #: reject synthetic examples that copy a test example; off, no step reads the test texts (as in benchmarks)
    reject_test_copies: bool = True
    #: S3 only: a student trained on the validation examples labels each new synthetic example, and one it gives
    #: another label with at least this confidence is rejected (``judge_disagrees``); None turns the check off
    judge_confidence: float | None = Field(default=None, ge=0.5, le=1.0)

    @model_validator(mode="after")
    def _bounds(self) -> FilterSpec:
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) is larger than max_words ({self.max_words})")
        return self


class PromptSpec(_Strict):
    """Words and templates used in prompts. Templates use ``$name`` placeholders (string.Template)."""

    #: what one example is, e.g. "movie review", "sentence from a movie review"
    text_kind: str = "text"
    #: names of the two parts of a sentence-pair example
    first_name: str = "premise"
    second_name: str = "hypothesis"
    #: an optional hint appended to generation prompts, e.g. "Write one sentence."
    length_hint: str = ""
    system: str | None = None
    rationale: str | None = None
    seed: str | None = None
    seed_plain: str | None = None
    #: one-message extrapolation prompt with ``$example``; unset on a single-text task, the example is shown as the
    #: LLM's own earlier answer to the ``seed_plain`` request, followed by ``error_again``
    error: str | None = None
    error_again: str | None = None
    #: with ``sizes.demonstrations``: the request after the first demonstration of a single-text seed prompt, and
    #: the final request when no rationales are used
    seed_again: str | None = None
    #: with ``sizes.rationale_demonstrations``: the lines before the rationale request, ``$examples`` = the examples
    rationale_examples: str | None = None
    zerogen: str | None = None


class QASpec(_Strict):
    """Extractive question answering (``kind: qa``): how the questions file is split, and what counts as an error.

    With neither ``contexts`` nor ``test`` given, the validation source is split by article (title): the first
    articles of a seeded shuffle give ``test`` questions, the next ones (at least ``validation_articles``)
    ``validation`` questions, and every other article is the contexts pool seed questions are written on.
    """

    #: validation questions drawn from the validation articles (the check split is taken out of them)
    validation: int = Field(default=200, ge=2)
    #: test questions drawn from the test articles (0: no test set; ignored when ``test`` is given)
    test: int = Field(default=1000, ge=0)
    #: the fewest articles the validation questions come from, so the errors are not all on one topic
    validation_articles: int = Field(default=4, ge=1)
    #: the seed of the article split (apart from the task seed, so runs with other seeds share one split)
    split_seed: int = 0
    #: a validation question is an error when the student's token F1 on it is below this; None: exact match is 0
    error_f1: float | None = Field(default=None, gt=0.0, le=1.0)
    #: characters of context around the answer shown in a question-writing prompt (the whole context if shorter)
    prompt_context_chars: int = Field(default=600, ge=50)


class SplitSpec(_Strict):
    """Split the validation source: a stratified sample becomes validation, the rest the test set."""

    validation: int = Field(ge=2)
    seed: int = 0


class TaskSpec(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    kind: Literal["single", "pair", "qa"] = "single"
    #: the classes of a classification task (at least two); a ``qa`` task has none
    labels: list[LabelSpec] = Field(default_factory=list)
    validation: DataSource
    test: DataSource | None = None
    split: SplitSpec | None = None
    #: unlabelled (or labelled) examples whose first text is used as context for pair-task seeds
    contexts: DataSource | None = None
    #: labelled data the "gold" method trains on (default: the validation set)
    gold: DataSource | None = None
    #: drop pair-task contexts that are also first texts of the test split (counted) instead of refusing the task
    drop_test_contexts: bool = False
    method: Literal["s3", "zerogen", "gold"] = "s3"
    check: CheckSpec = Field(default_factory=CheckSpec)
    final: FinalSpec = Field(default_factory=FinalSpec)
    sizes: Sizes = Field(default_factory=Sizes)
    stop: StopSpec = Field(default_factory=StopSpec)
    seed: int = 0
    llm: LLMSpec = Field(default_factory=LLMSpec)
    student: StudentSpec = Field(default_factory=StudentSpec)
    filters: FilterSpec = Field(default_factory=FilterSpec)
    prompts: PromptSpec = Field(default_factory=PromptSpec)
    #: rationales written by hand, by label; labels left out get theirs from the LLM
    rationales: dict[str, list[str]] | None = None
    #: extractive question answering only (``kind: qa``)
    qa: QASpec = Field(default_factory=QASpec)
    #: folder the task file was read from; relative data paths resolve against it
    base_dir: str | None = Field(default=None, exclude=True)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_forms(cls, v: Any) -> Any:
        """Accept ``[pos, neg]``, ``[{name: ..}, ..]`` or ``{pos: "description", neg: {description: ..}}``."""
        if isinstance(v, dict):
            out = []
            for name, val in v.items():
                if val is None or isinstance(val, str):
                    out.append({"name": str(name), "description": val or ""})
                elif isinstance(val, dict):
                    out.append({"name": str(name), **val})
                else:
                    raise ValueError(f"label {name!r}: give a description string or a mapping")
            return out
        if isinstance(v, list):
            return [{"name": x} if isinstance(x, str) else x for x in v]
        return v

    @model_validator(mode="before")
    @classmethod
    def _qa_student(cls, data: Any) -> Any:
        """A ``qa`` task's student is the QA student unless the task names another mode."""
        if isinstance(data, dict) and data.get("kind") == "qa":
            student = data.get("student") or {}
            if isinstance(student, dict) and "mode" not in student:
                data = {**data, "student": {**student, "mode": "qa"}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        self._kind_fits()
        names = [label.name for label in self.labels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"labels are listed twice: {', '.join(dupes)}")
        if self.split is not None and self.test is not None:
            raise ValueError("give either split (the rest of validation becomes the test set) or test, not both")
        unknown = sorted(set(self.rationales or {}) - set(names))
        if unknown:
            raise ValueError(
                f"rationales given for unknown label(s) {', '.join(unknown)}; use one of {', '.join(names)}"
            )
        if self.kind == "pair" and self.validation.text_b is None:
            raise ValueError("a pair task needs validation.text_b, the column with the second sentence")
        return self

    def _kind_fits(self) -> None:
        """Labels, split and student mode as the task's kind needs them."""
        kinds = student_entry(self.student.mode).kinds
        if self.kind not in kinds:
            wanted = "a qa task" if "qa" in kinds else "a classification task (single or pair)"
            raise ValueError(f"student mode {self.student.mode!r} is for {wanted}, not kind {self.kind!r}")
        if self.kind != "qa":
            if len(self.labels) < 2:
                raise ValueError("labels: give at least two labels (a task that answers questions sets kind: qa)")
            return
        if self.labels:
            raise ValueError("a qa task has no labels (its answers are spans of the context); remove labels")
        if self.split is not None:
            raise ValueError("a qa task is split by article with qa.validation and qa.test; remove split")

    # -- convenience -------------------------------------------------------------------------
    @property
    def is_qa(self) -> bool:
        return self.kind == "qa"

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    def label(self, name: str) -> LabelSpec:
        for label in self.labels:
            if label.name == name:
                return label
        raise KeyError(name)

    @property
    def is_pair(self) -> bool:
        return self.kind == "pair"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def to_yaml(self) -> str:
        import yaml

        text: str = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        return text

    def updated(self, changes: dict[str, Any]) -> TaskSpec:
        """A copy with dotted-path changes applied, e.g. ``{"sizes.rounds": 3}``, validated again."""
        data = self.model_dump(mode="json", exclude_none=True)
        for dotted, value in changes.items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        return TaskSpec.from_dict(data, base_dir=self.base_dir)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, base_dir: str | Path | None = None) -> TaskSpec:
        if not isinstance(data, dict):
            raise ConfigError(f"a task must be a mapping of keys to values, got {type(data).__name__}")
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None
        if base_dir is not None:
            spec.base_dir = str(base_dir)
        return spec

    @classmethod
    def from_yaml(cls, text: str, base_dir: str | Path | None = None) -> TaskSpec:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"the task is not valid YAML{where}: {problem}; fix the indentation or quoting") from None
        return cls.from_dict(data, base_dir=base_dir)

    @classmethod
    def from_file(cls, path: str | Path) -> TaskSpec:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"task file {str(p)!r} not found; pass the path of a YAML task file")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read task file {str(p)!r} ({exc.__class__.__name__}); save it as UTF-8"
            ) from None
        return cls.from_yaml(text, base_dir=p.resolve().parent)


BUILTIN_DIR = Path(__file__).parent / "tasks"


def builtin_tasks() -> list[str]:
    """Names of the example tasks shipped with the package (usable wherever a task file is)."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_task(task: TaskSpec | dict[str, Any] | str | Path) -> TaskSpec:
    """A TaskSpec from a spec, a dict, a YAML file path, a built-in task name (e.g. ``"sst2"``) or YAML text."""
    if isinstance(task, TaskSpec):
        return task
    if isinstance(task, dict):
        return TaskSpec.from_dict(task)
    if isinstance(task, str) and "\n" not in task and ": " not in task:
        if not Path(task).exists() and task in builtin_tasks():
            return TaskSpec.from_file(BUILTIN_DIR / f"{task}.yaml")
        if not Path(task).exists():
            raise ConfigError(
                f"task file {task!r} not found; pass a YAML file or one of the built-in tasks: "
                f"{', '.join(builtin_tasks())}"
            )
        return TaskSpec.from_file(task)
    if isinstance(task, Path):
        return TaskSpec.from_file(task)
    if isinstance(task, str):
        return TaskSpec.from_yaml(task)
    raise ConfigError(f"cannot make a task from {type(task).__name__}; pass a dict, YAML text or a .yaml path")


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "task"
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = f"unknown key {where!r} in the task; remove it or check its spelling"
    elif kind == "missing":
        msg = f"the task needs {where!r}; add it"
    else:
        text = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = f" (got {value!r})" if isinstance(value, (int, float, str)) and len(repr(value)) < 60 else ""
        msg = f"{where}: {text}{shown}"
        if ";" not in text:  # the validators' own messages already say what to do
            msg += "; fix the task" if where == "task" else f"; change {where} in the task"
    more = exc.error_count() - 1
    return msg + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
