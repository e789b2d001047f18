"""Generation throughput per round (round stats, the CLI table) and how the engine hands prompts to a backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from conftest import scripted_reply, sst2_task

from s3_magic.llm.base import Completion, GenParams, Prompt
from s3_magic.llm.fake import FakeBackend
from s3_magic.records import Round
from s3_magic.session import Session
from s3_magic.summaries import rounds_table


class BatchingFake(FakeBackend):
    """The scripted backend, recording the prompts of each ``generate`` call and reporting made-up batch rows."""

    def __init__(self, responder=scripted_reply) -> None:
        super().__init__(responder=responder)
        self.calls: list[list[Prompt]] = []

    def generate(self, prompts: Sequence[Prompt], params: GenParams) -> Iterator[tuple[int, Completion]]:
        self.calls.append(list(prompts))
        yield from super().generate(prompts, params)

    def batch_occupancy(self) -> tuple[int, int]:
        return 3 * len(self.history), 4 * len(self.history)


def test_rounds_record_generation_throughput_and_occupancy(tmp_path, fake_llm) -> None:
    backend = BatchingFake()
    s = Session.create(sst2_task(sizes__rounds=1), folder=tmp_path, backend_factory=lambda: backend)
    rows = s.run()
    for r in rows:
        assert r.gen_seconds is not None and r.completion_tok_s > 0 and r.prompt_tok_s > 0
        ratio = r.completion_tok_s / r.prompt_tok_s  # both are the round's real tokens per second of waiting
        assert abs(ratio - r.completion_tokens / r.prompt_tokens) < 0.01 * ratio
        assert r.batch_occupancy == 0.75
    stored = s.store.rounds(s.run_id)
    assert [r.completion_tok_s for r in stored] == [r.completion_tok_s for r in rows], "kept in the store"
    header = rounds_table(rows).splitlines()[0].split()
    assert "tok/s" in header and header.index("tok/s") == header.index("tokens") + 1


def test_a_round_served_from_the_cache_reports_no_throughput(tmp_path, fake_llm) -> None:
    first = Session.create(sst2_task(sizes__rounds=0), folder=tmp_path)
    first.run()
    again = Session.create(sst2_task(sizes__rounds=0), folder=tmp_path)
    [row] = again.run()
    assert row.cache_hits and row.llm_calls == 0
    assert row.completion_tok_s is None and row.gen_seconds is None
    assert "tok/s" not in rounds_table([row]).splitlines()[0].split()


def test_call_seconds_count_the_backend_not_the_caller(tmp_path) -> None:
    import time

    from s3_magic.llm.cached import CachedLLM
    from s3_magic.store import RunStore

    class Slow(FakeBackend):
        def generate(self, prompts, params):
            for item in super().generate(prompts, params):
                time.sleep(0.02)
                yield item

    llm = CachedLLM(Slow(), RunStore(tmp_path, in_memory=True), GenParams())
    for _ in llm.generate([Prompt.user(f"Write review {i}.") for i in range(5)]):
        time.sleep(0.1)  # the caller's own work between results
    assert 0.1 <= llm.stats.seconds < 0.3


def test_rounds_table_shows_completion_tokens_per_second() -> None:
    stats = {"prompt_tokens": 10, "completion_tokens": 500, "completion_tok_s": 251.6}
    rows = [Round.from_stats(0, "evaluated", stats)]
    header, _, line = rounds_table(rows).splitlines()
    assert header.split()[-2:] == ["tok/s", "seconds"] and line.split()[-2] == "252"


def test_rationale_calls_of_all_labels_share_a_batch(tmp_path, fake_llm) -> None:
    """Call ``c`` of every label still short of rationales goes to the backend at once: the same calls, and the
    same rationales, as asking one label at a time."""

    def two_per_call(prompt: Prompt) -> str:
        if "one reason per line" not in prompt.messages[-1]["content"]:
            return scripted_reply(prompt)
        label = "positive" if "positive" in prompt.messages[-1]["content"] else "negative"
        call = int(prompt.sample.rsplit(":", 1)[1])
        n = 1 if label == "negative" and call == 0 else 2  # negative needs one call more
        return "\n".join(f"{label} reason {call}-{i}" for i in range(n))

    backend = BatchingFake(two_per_call)
    s = Session.create(sst2_task(sizes__rationales_per_label=4), folder=tmp_path, backend_factory=lambda: backend)
    rationales = s.generate_rationales()
    batches = [[p.sample for p in call] for call in backend.calls]
    assert batches == [
        ["rationale:negative:0", "rationale:positive:0"],
        ["rationale:negative:1", "rationale:positive:1"],
        ["rationale:negative:2"],
    ]
    assert rationales == {
        "negative": ["negative reason 0-0", "negative reason 1-0", "negative reason 1-1", "negative reason 2-0"],
        "positive": ["positive reason 0-0", "positive reason 0-1", "positive reason 1-0", "positive reason 1-1"],
    }
