"""Typed options and the registries: every backend and student mode declares what it takes, a task is checked against
it when it is loaded (one line naming the option, the part and the names it takes), and runs take their LLM backend
and students from factories given to the Session instead of patched module globals."""

from __future__ import annotations

import inspect
import json

import pytest
import yaml
from conftest import FAKE, WordCountOptions, WordCountStudent, sst2_task, students
from test_light_import import HEAVY, loaded_after

from s3_magic.errors import BackendError, ConfigError
from s3_magic.llm import backend_entry, get_backend, providers, register_backend, unregister_backend
from s3_magic.llm.fake import FakeBackend
from s3_magic.llm.options import ApiOptions, LocalOptions, OracleOptions
from s3_magic.options import Options
from s3_magic.session import Session
from s3_magic.student import make_student, register_student, student_entry, student_modes, unregister_student
from s3_magic.student.options import FastOptions, FineTuneOptions
from s3_magic.task import TaskSpec

BUILT_IN_PROVIDERS = ["anthropic", "local", "openai", "oracle"]


def load_yaml(changes: dict) -> TaskSpec:
    return TaskSpec.from_yaml(yaml.safe_dump(sst2_task(**changes)))


def one_line_error(changes: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_yaml(changes)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# -- a task's options are checked when it is loaded ------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"llm__spec": "local:embedded", "llm__options": {"batchsize": 8}},
            "llm.options: unknown option 'batchsize' for the local backend; "
            "use one of batch_size, device, dtype, seed, threads, price",
        ),
        (
            {"llm__spec": "anthropic:claude-haiku-4-5", "llm__options": {"concurency": 4}},
            "llm.options: unknown option 'concurency' for the anthropic backend; "
            "use one of base_url, batch, batch_poll_seconds, concurrency, max_retries, max_retry_wait, timeout, price",
        ),
        (
            {"llm__spec": "openai:my-model", "llm__options": {"base_url": "http://x/v1", "retries": 2}},
            "llm.options: unknown option 'retries' for the openai backend; use one of base_url, batch, "
            "batch_poll_seconds, concurrency",
        ),
        (
            {"student__mode": "finetune", "student__epoch": 3},
            "student: unknown option 'epoch' for the finetune student; use one of batch_size, bf16, device, epochs, "
            "freeze_embeddings, group_by_length, infer_batch_size, lr, max_length, warmup_ratio, weight_decay, "
            "model, mode",
        ),
        (
            {"student__mode": "fast", "student__c": 2.0},
            "student: unknown option 'c' for the fast student; use one of C, batch_size, bf16, device, max_iter, "
            "max_length, model, mode",
        ),
    ],
)
def test_a_misspelt_option_is_one_line_at_load_naming_the_allowed_ones(changes, expected):
    assert one_line_error(changes).startswith(expected)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"llm__spec": "local:embedded", "llm__options": {"batch_size": 0}},
         "llm.options: batch_size must be a whole number >= 1, got 0; change llm.options.batch_size "
         "(an option of the local backend)"),
        ({"llm__spec": "local:embedded", "llm__options": {"dtype": "int4"}}, "dtype must be one of auto, float32"),
        ({"llm__spec": "local:embedded", "llm__options": {"threads": True}}, "threads must be a whole number >= 1"),
        ({"llm__spec": "anthropic:m", "llm__options": {"timeout": 0}}, "timeout must be a number of seconds > 0"),
        ({"student__mode": "finetune", "student__epochs": 0},
         "student: epochs must be a whole number >= 1 and <= 100, got 0"),
        ({"student__mode": "fast", "student__C": -1}, "student: C must be a number > 0, got -1"),
        # an option of another mode is still checked against that mode
        ({"student__mode": "fast", "student__lr": 5}, "lr must be a number > 0 and < 1, got 5; change student.lr "
                                                      "(an option of the finetune student)"),
    ],
)  # fmt: skip
def test_a_bad_option_value_names_the_option_its_rule_and_the_part(changes, expected):
    assert expected in one_line_error(changes)


def test_options_are_checked_before_any_run_exists(tmp_path):
    task = sst2_task(**{"llm__options": {"temprature": 0.5}})
    with pytest.raises(ConfigError, match="unknown option 'temprature' for the fake backend; use one of price"):
        Session.create(task, folder=tmp_path / "runs")
    assert not (tmp_path / "runs").exists(), "nothing is written"


def test_loading_a_task_checks_options_without_importing_torch_or_an_sdk():
    code = (
        "from s3_magic.task import TaskSpec\n"
        "base = {'name': 'x', 'labels': ['a', 'b'], 'validation': {'path': 'v.jsonl'}}\n"
        "for llm in ({'spec': 'local:embedded', 'options': {'batch_size': 8, 'threads': 1}},\n"
        "            {'spec': 'anthropic:claude-haiku-4-5', 'options': {'concurrency': 2, 'timeout': 30}},\n"
        "            {'spec': 'oracle:pool.jsonl', 'options': {'limit': 100}}):\n"
        "    TaskSpec.from_dict({**base, 'llm': llm, 'student': {'mode': 'fast', 'C': 2.0, 'epochs': 3}})\n"
    )
    assert not [m for m in HEAVY if m in loaded_after(code)]


def test_options_of_another_mode_are_kept_and_not_passed():
    spec = load_yaml({"student__mode": "finetune", "student__epochs": 3, "student__max_length": 64}).student
    assert spec.mode_options == {"epochs": 3, "max_length": 64}
    fast = spec.model_copy(update={"mode": "fast"})
    assert fast.mode_options == {"max_length": 64}, "epochs is a fine-tune option"
    assert fast.options == FastOptions(max_length=64)
    again = TaskSpec.from_dict(load_yaml({"student__epochs": 3}).updated({"student.mode": "fast"}).to_dict())
    assert again.to_dict()["student"] == {"model": "embedded", "mode": "fast", "epochs": 3}, "round-trips as given"


def test_the_student_recipe_fills_in_the_defaults_of_its_mode():
    recipe = load_yaml({"student__mode": "finetune", "student__epochs": 2}).student.recipe()
    assert recipe == {"model": "embedded", "mode": "finetune", **FineTuneOptions(epochs=2).model_dump()}


def test_a_price_is_common_to_every_backend_and_never_reaches_one():
    for spec in ("local:embedded", "anthropic:claude-haiku-4-5", "oracle:pool.jsonl", "fake:scripted"):
        llm = load_yaml({"llm__spec": spec, "llm__options": {"price": {"input": 1, "output": 2}}}).llm
        assert llm.price().input_per_mtok == 1.0 and "price" not in llm.backend_options


# -- the options models agree with what the parts take ----------------------------------------------------------
def constructor_defaults(cls: type) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD
    }


@pytest.mark.parametrize(
    ("mode", "student"),
    [("finetune", "FineTuneStudent"), ("fast", "FastStudent"), ("qa", "QAStudent")],
)
def test_student_options_are_the_constructors_keywords_with_the_same_defaults(mode, student):
    entry = student_entry(mode)
    cls = getattr(pytest.importorskip(entry.factory.partition(":")[0]), student)
    defaults = {k: v for k, v in constructor_defaults(cls).items() if k != "model"}
    assert defaults == {name: f.default for name, f in entry.options.model_fields.items()}


@pytest.mark.parametrize(
    ("provider", "module", "model"),
    [("anthropic", "s3_magic.llm.anthropic_backend", ApiOptions), ("openai", "s3_magic.llm.openai_backend", ApiOptions),
     ("oracle", "s3_magic.llm.oracle", OracleOptions), ("local", "s3_magic.llm.local", LocalOptions)],
)  # fmt: skip
def test_each_backend_checks_its_options_with_the_model_its_entry_names(provider, module, model):
    cls = getattr(pytest.importorskip(module), backend_entry(provider).factory.partition(":")[2])
    assert backend_entry(provider).options is model and cls.Options is model
    if model is ApiOptions:  # the API backends' keyword defaults are the options' defaults
        defaults = constructor_defaults(cls)
        assert {k: defaults[k] for k in model.model_fields} == {k: f.default for k, f in model.model_fields.items()}


# -- the registries ---------------------------------------------------------------------------------------------
def test_the_product_registers_the_same_backends_as_before_without_fake():
    code = "import json\nfrom s3_magic.llm import providers\nfrom s3_magic.student import student_modes\n"
    code += "print(json.dumps([providers(), student_modes()]))"
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [BUILT_IN_PROVIDERS, ["fast", "finetune", "qa"]]
    assert set(providers()) == {*BUILT_IN_PROVIDERS, "fake"}, "the tests register fake themselves"
    with pytest.raises(BackendError, match=r"unknown LLM provider 'nope'; choose one of anthropic, fake, local"):
        get_backend("nope:x")


def test_a_name_is_registered_once_unless_replaced():
    with pytest.raises(ValueError, match="already registered; pass replace=True"):
        register_backend("local", FakeBackend)
    with pytest.raises(ValueError, match="already registered"):
        register_student("fast", WordCountStudent, WordCountOptions)
    with pytest.raises(TypeError, match="Options model"):
        register_student("dicts", WordCountStudent, dict)  # type: ignore[arg-type]


def test_a_registered_student_mode_is_usable_by_name_and_checks_its_options(tmp_path, fake_llm):
    class Smoothing(Options):
        alpha: float = 1.0

    made = []

    def factory(labels, model="", alpha=1.0):
        made.append(alpha)
        return WordCountStudent(labels)

    register_student("smoothed", factory, Smoothing)
    try:
        assert "smoothed" in student_modes()
        assert isinstance(make_student(["a", "b"], "smoothed", alpha=0.5), WordCountStudent) and made == [0.5]
        with pytest.raises(ConfigError, match="unknown option 'beta' for the smoothed student; use one of alpha"):
            make_student(["a", "b"], "smoothed", beta=1)
        s = Session.create(sst2_task(student__mode="smoothed", student__alpha=0.25, sizes__rounds=0), folder=tmp_path)
        s.run()
        assert made[1:] == [0.25], "the run's student came from the registered mode, with the task's option"
    finally:
        unregister_student("smoothed")


def test_a_registered_backend_is_usable_by_name(tmp_path, fake_llm):
    made: list[FakeBackend] = []

    def factory(model: str = "", **options: object) -> FakeBackend:
        made.append(FakeBackend(model, responder=FAKE.responder, **options))
        return made[-1]

    register_backend("scripted", factory, FakeBackend.Options)
    try:
        s = Session.create(sst2_task(llm__spec="scripted:v2", sizes__rounds=0), folder=tmp_path)
        s.synthesize()
        assert [b.model for b in made] == ["v2"] and made[0].history and fake_llm.calls() == 0
    finally:
        unregister_backend("scripted")


# -- injection: factories, explicit keywords, per-instance fakes ------------------------------------------------
def test_a_misspelt_session_keyword_is_a_type_error(tmp_path, fake_llm):
    with pytest.raises(TypeError, match="student_factroy"):
        Session.create(sst2_task(), folder=tmp_path, student_factroy=students(WordCountStudent))
    with pytest.raises(TypeError, match="backendfactory"):
        Session.dry_run(sst2_task(), folder=tmp_path, backendfactory=lambda: FakeBackend())
    Session.create(sst2_task(), folder=tmp_path, name="r").close()
    with pytest.raises(TypeError, match="reporterr"):
        Session.open("r", folder=tmp_path, reporterr=None)


class CountingStudent(WordCountStudent):
    """A word-count student that records each fit on the factory that made it."""

    def __init__(self, labels, fits: list[int]) -> None:
        super().__init__(labels)
        self.fits = fits

    def fit(self, examples, seed=0, progress=None, weights=None, warm_start=False):
        self.fits.append(len(examples))
        return super().fit(examples, seed, progress, weights)


def test_the_student_factory_makes_every_student_of_a_run_and_of_a_reopened_one(tmp_path, fake_llm):
    fits: list[int] = []
    task = sst2_task(**{"sizes__rounds": 1, "filters__judge_confidence": 0.9, "final__recipes": ["real"]})
    made_with = []

    def factory(spec: TaskSpec) -> CountingStudent:
        made_with.append(spec.name)
        return CountingStudent(spec.label_names, fits)

    s = Session.create(task, folder=tmp_path, name="r", student_factory=factory)
    s.run()
    rounds_and_judge = len(fits)
    assert rounds_and_judge == 3, "round 0, round 1 and the validation judge"
    Session.open("r", folder=tmp_path, student_factory=factory).final()
    assert len(fits) > rounds_and_judge and set(made_with) == {"sst2-test"}, "the final step's students too"


def test_fake_backends_keep_their_own_state():
    a, b = FakeBackend(responder=lambda p: "a"), FakeBackend(fail_after=1)
    from s3_magic.llm.base import GenParams, Prompt

    prompts = [Prompt.user("x", sample=i) for i in range(2)]
    assert [c.text for _, c in a.generate(prompts, GenParams())] == ["a", "a"]
    with pytest.raises(BackendError, match="scripted failure"):
        list(b.generate(prompts, GenParams()))
    assert (len(a.history), len(b.history)) == (2, 1)
    assert not hasattr(FakeBackend, "instances") and not hasattr(FakeBackend, "default_responder")
    with pytest.raises(BackendError, match="unknown option 'temperature' for the fake backend"):
        FakeBackend(temperature=1)
