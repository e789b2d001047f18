"""Continuous batching of the local backend, on a tiny randomly initialised Llama (no download, runs in seconds):
greedy results match one prompt at a time through ``model.generate``, whatever the batch size."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from s3_magic.llm.local_batching import (  # noqa: E402
    GROUP_LENGTH_FACTOR,
    GROUP_MAX_TOKENS,
    MIN_SHARED_PREFIX,
    ContinuousBatcher,
    length_groups,
    shared_prefix_length,
)

PREFIX = list(range(5, 5 + MIN_SHARED_PREFIX + 2))  # a "system prompt" every prompt starts with
MAX_NEW = 12


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A model this small runs fastest on one thread (and many tiny ops on a busy machine are slow on two)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def prompts() -> list[list[int]]:
    rng = random.Random(0)
    rows = [PREFIX + [rng.randrange(20, 64) for _ in range(rng.randrange(1, 12))] for _ in range(9)]
    rows.insert(4, list(rows[2]))  # the same prompt twice (two samples of one request)
    rows.append([7, 30, 31])  # one that shares no prefix with the others
    return rows


def cache_kwarg(model) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def one_by_one(model, ids: list[int], stop: set[int]) -> list[int]:
    """Greedy decoding of one prompt through ``model.generate``, cut after the first stop token."""
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), do_sample=False,
            max_new_tokens=MAX_NEW, pad_token_id=0, eos_token_id=None,
        )  # fmt: skip
    tokens = out[0, len(ids) :].tolist()
    ends = [i for i, t in enumerate(tokens) if t in stop]
    return tokens[: ends[0] + 1] if ends else tokens


def greedy(logits, rows, steps):
    return logits.argmax(-1)


@pytest.fixture(scope="module")
def stop_and_expected(model, prompts):
    free = [one_by_one(model, p, set()) for p in prompts]
    stop = [free[0][2]]  # a token that ends some rows early and not others
    expected = [one_by_one(model, p, set(stop)) for p in prompts]
    assert len({len(e) for e in expected}) > 1, "rows must finish at different steps for the test to mean anything"
    return stop, expected


@pytest.mark.parametrize("slots", [1, 2, 3, 5, 64])
def test_batched_greedy_matches_one_prompt_at_a_time(model, prompts, stop_and_expected, slots: int) -> None:
    stop, expected = stop_and_expected
    batcher = ContinuousBatcher(model, cache_kwarg(model), stop, "cpu", slots)
    got = dict(batcher.run(prompts, MAX_NEW, greedy))
    assert got == dict(enumerate(expected))
    stats = batcher.stats
    assert stats.rows == len(prompts) and stats.completion_tokens == sum(len(e) for e in expected)
    # each row's first token comes from its prefill, every later one from a decode step in which it was live
    assert stats.live_rows == stats.completion_tokens - len(prompts)
    assert 0 < stats.occupancy <= 1 and stats.live_rows <= stats.slot_rows <= stats.capacity_rows


def test_stops_as_soon_as_every_row_is_done(model, prompts, stop_and_expected) -> None:
    stop, expected = stop_and_expected
    batcher = ContinuousBatcher(model, cache_kwarg(model), stop, "cpu", len(prompts))
    dict(batcher.run(prompts, MAX_NEW, greedy))
    assert batcher.stats.decode_steps == max(len(e) for e in expected) - 1  # not MAX_NEW when all stopped sooner


def test_refills_free_slots_in_prompt_order(model, prompts, stop_and_expected) -> None:
    stop, _ = stop_and_expected
    batcher = ContinuousBatcher(model, cache_kwarg(model), stop, "cpu", 2)
    order = [i for i, _ in batcher.run(prompts, MAX_NEW, greedy)]
    assert sorted(order) == list(range(len(prompts)))
    assert set(order[:2]) <= {0, 1, 2}, "the first prompts are decoded first"
    assert batcher.stats.slot_rows <= 2 * batcher.stats.decode_steps


def test_shared_prefix_and_identical_prompts_are_prefilled_once(model, prompts, stop_and_expected) -> None:
    stop, _ = stop_and_expected
    same = [prompts[1]] * 4 + [prompts[3]] * 2
    batcher = ContinuousBatcher(model, cache_kwarg(model), stop, "cpu", 8)
    got = dict(batcher.run(same, MAX_NEW, greedy))
    assert got[0] == got[3] and got[4] == got[5]
    own = sorted(len(p) - len(PREFIX) for p in (prompts[1], prompts[3]))
    # the prefix once, then the two distinct suffixes (padded to one width when they are grouped together)
    assert batcher.stats.prefill_tokens <= len(PREFIX) + 2 * own[-1] < batcher.stats.prompt_tokens


def test_each_row_samples_from_its_own_stream(model, prompts) -> None:
    """The sampler sees each row's prompt index and step; a row's draws never depend on the batch around it."""
    seen: dict[int, list[int]] = {}

    def record(logits, rows, steps):
        for row, step in zip(rows, steps, strict=True):
            seen.setdefault(row, []).append(step)
        return logits.argmax(-1)

    dict(ContinuousBatcher(model, cache_kwarg(model), [63], "cpu", 3).run(prompts, 5, record))
    assert seen == {i: [0, 1, 2, 3, 4] for i in range(len(prompts))}


def test_zero_new_tokens_and_no_prompts(model) -> None:
    batcher = ContinuousBatcher(model, cache_kwarg(model), [1], "cpu", 4)
    assert dict(batcher.run([[5, 6, 7]], 0, greedy)) == {0: []}
    assert list(batcher.run([], 5, greedy)) == []


def test_shared_prefix_length() -> None:
    long = list(range(MIN_SHARED_PREFIX + 4))
    assert shared_prefix_length([[*long, 1], [*long, 2, 3]]) == len(long)
    assert shared_prefix_length([long, long]) == len(long) - 1, "every row keeps a token of its own"
    assert shared_prefix_length([[*long[:3], 9], [*long[:3], 8]]) == 0, "too short to bother"
    assert shared_prefix_length([long]) == 0


def test_length_groups_are_sorted_and_bounded() -> None:
    lengths = [30, 5, 6, 100, 31, 7, 29, 500]
    groups = length_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    flat = [lengths[i] for g in groups for i in g]
    assert flat == sorted(lengths), "shortest first"
    for g in groups:
        assert lengths[g[-1]] <= GROUP_LENGTH_FACTOR * lengths[g[0]] + 4
    assert {lengths[i] for i in groups[0]} == {5, 6, 7}
    many = length_groups([100] * 100)
    assert all(100 * len(g) <= GROUP_MAX_TOKENS for g in many) and len(many) > 1
