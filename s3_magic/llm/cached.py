"""Cached, budgeted, accounted LLM calls.

Every call is keyed by backend, model, sampling parameters, prompt and sample index. A key seen
before is answered from the store, so re-running a finished run makes no LLM call; a real call is
written to the cache (with the run and step that paid for it) as soon as it returns, and so are the
calls still in flight when a run is interrupted, if they finish within a short wait. A token budget and a
money budget (at the price of :mod:`s3_magic.llm.prices`) each stop a run cleanly within one call of the limit.

A backend with a batch API switched on (:meth:`Backend.batch_api`) gets a call's missing prompts as one provider
batch. Its id is recorded in the store before it is polled; a resumed run reads the open batches of the run that
hold any prompt it needs instead of making a new one, and a request that failed inside a batch is retried as a
normal call.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass

from s3_magic.errors import BudgetExceeded, ConfigError
from s3_magic.llm.base import Backend, BatchApi, Completion, GenParams, Prompt
from s3_magic.llm.prices import Price, cost_usd, format_usd
from s3_magic.store import RunStore


@dataclass
class CallStats:
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: wall seconds spent waiting for the backend's real calls (not the caller's own work between results)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return dict(self.__dict__)


def estimate_prompt_tokens(prompt: Prompt) -> int:
    """A rough, tokenizer-free count of a prompt's tokens (about 1.4 per word, plus chat markup)."""
    return int(sum(len(m["content"].split()) for m in prompt.messages) * 1.4) + 4 * len(prompt.messages)


def cache_key(backend: Backend, params: GenParams, prompt: Prompt) -> str:
    parts = [backend.provider, backend.model, params.key(), prompt.hash, prompt.sample]
    if backend.cache_salt:
        parts.append(backend.cache_salt)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


class CachedLLM:
    """Wraps a backend with the store's call cache, a token budget, a money budget and usage counters.

    ``price`` is what the backend's calls cost (None: unknown, which a money budget cannot work with)."""

    def __init__(
        self,
        backend: Backend,
        store: RunStore,
        params: GenParams,
        run_id: str | None = None,
        budget_tokens: int | None = None,
        price: Price | None = None,
        budget_usd: float | None = None,
    ) -> None:
        if budget_usd is not None and price is None:
            raise ConfigError(
                f"a money budget needs a price and {backend.spec!r} has none listed; set llm.options.price: "
                "{input: USD, output: USD} (per million tokens)"
            )
        self.backend = backend
        self.store = store
        self.params = params
        self.run_id = run_id
        self.budget_tokens = budget_tokens
        self.price = price
        self.budget_usd = budget_usd
        self.stats = CallStats()

    def _usage(self) -> tuple[int, int]:
        """Prompt and completion tokens of the real calls paid so far (by the run, or by this wrapper)."""
        if self.run_id is None:
            return self.stats.prompt_tokens, self.stats.completion_tokens
        usage = self.store.usage(self.run_id)
        return usage["prompt_tokens"], usage["completion_tokens"]

    def spent(self) -> int:
        return sum(self._usage())

    def spent_usd(self) -> float | None:
        """What the real calls paid so far cost at ``price`` (None when the price is unknown)."""
        return None if self.price is None else cost_usd(self.price, *self._usage())

    def _check_budget(self) -> None:
        if self.budget_tokens is not None and self.spent() >= self.budget_tokens:
            raise BudgetExceeded(
                f"token budget of {self.budget_tokens:,} reached ({self.spent():,} spent); "
                "resume the run with a higher budget (--budget) to go on"
            )
        left_usd = self._left_usd()
        if left_usd is not None and left_usd <= 0 and self.price is not None and self.budget_usd is not None:
            raise BudgetExceeded(
                f"money budget of {format_usd(self.budget_usd)} reached ({format_usd(self.spent_usd())} spent at "
                f"{self.price.describe()}); resume the run with a higher budget (--budget-usd) to go on"
            )

    def _left_usd(self) -> float | None:
        spent_usd = self.spent_usd()
        return None if self.budget_usd is None or spent_usd is None else self.budget_usd - spent_usd

    def _affordable(self, prompts: Sequence[Prompt]) -> int:
        """How many of ``prompts`` (in order, at least one) fit in what is left of the budgets at their
        worst-case cost (estimated prompt tokens + ``max_tokens``, at ``price`` for the money budget), so a run
        stops within one call of its budget.
        """
        left = None if self.budget_tokens is None else self.budget_tokens - self.spent()
        left_usd = self._left_usd()
        if left is None and left_usd is None:
            return len(prompts)
        n = 0
        for prompt in prompts:
            n_in, n_out = estimate_prompt_tokens(prompt), self.params.max_tokens
            if left is not None:
                left -= n_in + n_out
            if left_usd is not None and self.price is not None:
                left_usd -= cost_usd(self.price, n_in, n_out)
            if (left is not None and left < 0) or (left_usd is not None and left_usd < 0):
                break
            n += 1
        return max(1, n)

    def generate(self, prompts: Sequence[Prompt], step: str = "") -> Iterator[tuple[int, Completion]]:
        """Yield ``(index, Completion)`` for each prompt: cache hits first, then real calls in chunks."""
        keys = [cache_key(self.backend, self.params, p) for p in prompts]
        missing: list[int] = []
        for i, key in enumerate(keys):
            hit = self.store.cache_get(key)
            if hit is None:
                missing.append(i)
                continue
            self.stats.cache_hits += 1
            if self.backend.observes:
                self.backend.observe([hit["text"]])
            yield i, Completion(hit["text"], hit["prompt_tokens"], hit["completion_tokens"], cached=True)
        api = self.backend.batch_api()
        if missing and api is not None:
            missing = yield from self._batched(api, prompts, keys, missing, step)
        full = max(1, self.backend.default_chunk)
        chunk = min(full, self.backend.first_chunk or full)
        start = 0
        if missing:
            self.backend.prepare()
        while start < len(missing):
            self._check_budget()
            todo = missing[start : start + chunk]
            todo = todo[: self._affordable([prompts[i] for i in todo])]
            start += len(todo)
            chunk = min(full, chunk * 2)
            unrecorded: tuple[int, Completion] | None = None
            try:
                for j, completion in self._timed(self.backend.generate([prompts[i] for i in todo], self.params)):
                    unrecorded = (j, completion)
                    self._record(keys[todo[j]], prompts[todo[j]], completion, step)
                    unrecorded = None
                    yield todo[j], completion
            except (KeyboardInterrupt, GeneratorExit):
                # interrupted (Ctrl-C) or closed early: the calls in flight are paid for, so their results
                # are waited for a short while and cached before it stops
                if unrecorded is not None:
                    j, completion = unrecorded
                    self._record(keys[todo[j]], prompts[todo[j]], completion, step)
                try:
                    for j, completion in self.backend.settle():
                        self._record(keys[todo[j]], prompts[todo[j]], completion, step)
                except KeyboardInterrupt:
                    pass  # a second Ctrl-C: the calls still in flight are abandoned, and the first one goes on
                raise

    def _batched(
        self, api: BatchApi, prompts: Sequence[Prompt], keys: Sequence[str], missing: Sequence[int], step: str
    ) -> Generator[tuple[int, Completion], None, list[int]]:
        """Answer ``missing`` through provider batches: first the run's open batches that hold any of them, then
        one new batch of the rest (as many as the budgets allow). Returns the prompts still unanswered."""
        wanted: dict[str, list[int]] = {}
        for i in missing:
            wanted.setdefault(keys[i], []).append(i)
        provider, model = self.backend.provider, self.backend.model
        for batch_id, requests in self.store.open_batches(provider, model, self.run_id):
            if not wanted.keys().isdisjoint(requests):
                yield from self._read_batch(api, batch_id, requests, wanted, step)
        if wanted:
            self._check_budget()
            firsts = [prompts[idx[0]] for idx in wanted.values()]
            todo = list(wanted)[: self._affordable(firsts)]
            batch_id = api.submit_batch([(k, prompts[wanted[k][0]]) for k in todo], self.params)
            requests = {k: [prompts[wanted[k][0]].hash, prompts[wanted[k][0]].sample] for k in todo}
            self.store.batch_put(provider, batch_id, run_id=self.run_id, model=model, requests=requests)
            yield from self._read_batch(api, batch_id, requests, wanted, step)
        return sorted(i for idx in wanted.values() for i in idx)

    def _read_batch(
        self, api: BatchApi, batch_id: str, requests: dict[str, list[str]], wanted: dict[str, list[int]], step: str
    ) -> Iterator[tuple[int, Completion]]:
        """Wait for a batch to end, cache every answered request in it, and yield those in ``wanted`` (removed)."""
        self._await_batch(api, batch_id)
        answered: set[str] = set()
        for key, completion in api.batch_results(batch_id):
            if key not in requests or completion is None:
                continue
            answered.add(key)
            prompt_hash, sample = requests[key]
            self._put(key, prompt_hash, sample, completion, step)
            for i in wanted.pop(key, ()):
                yield i, completion
        self.store.batch_done(self.backend.provider, batch_id)
        if failed := len(requests) - len(answered):
            self._tell(f"{failed} request(s) of batch {batch_id} failed; retrying them as single calls")

    def _await_batch(self, api: BatchApi, batch_id: str) -> None:
        """Poll a batch every ``batch_poll_seconds`` until it has ended (its time counts in ``stats.seconds``)."""
        started, seen = time.perf_counter(), -1
        try:
            while not (status := api.batch_status(batch_id)).ended:
                if status.done != seen:
                    seen = status.done
                    self._tell(
                        f"{self.backend.provider} batch {batch_id}: {status.done}/{status.total} done; polling every "
                        f"{api.batch_poll_seconds:g} s (up to 24 h; an interrupted run resumes with this batch)"
                    )
                time.sleep(api.batch_poll_seconds)
        finally:
            self.stats.seconds += time.perf_counter() - started

    def _tell(self, text: str) -> None:
        if self.backend.notice is not None:
            self.backend.notice(text)

    def _timed(self, results: Iterator[tuple[int, Completion]]) -> Iterator[tuple[int, Completion]]:
        """``results``, adding the time spent waiting for each one to ``stats.seconds``."""
        while True:
            started = time.perf_counter()
            try:
                item = next(results)
            except StopIteration:
                return
            finally:
                self.stats.seconds += time.perf_counter() - started
            yield item

    def _record(self, key: str, prompt: Prompt, completion: Completion, step: str) -> None:
        """Cache a real call's result with the run and step that paid for it (once, however often it is given)."""
        self._put(key, prompt.hash, prompt.sample, completion, step)

    def _put(self, key: str, prompt_hash: str, sample: str, completion: Completion, step: str) -> None:
        stored = self.store.cache_put(
            key,
            backend=self.backend.provider,
            model=self.backend.model,
            params=self.params.key(),
            prompt_hash=prompt_hash,
            sample=sample,
            text=completion.text,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            run_id=self.run_id,
            step=step,
        )
        if stored:
            self.stats.calls += 1
            self.stats.prompt_tokens += completion.prompt_tokens
            self.stats.completion_tokens += completion.completion_tokens

    def estimate(self, prompts: Sequence[Prompt]) -> dict[str, int]:
        """A dry-run estimate: how many prompts would be real calls, and their rough prompt tokens."""
        keys = [cache_key(self.backend, self.params, p) for p in prompts]
        todo = [p for p, k in zip(prompts, keys, strict=True) if self.store.cache_get(k) is None]
        return {
            "calls": len(todo),
            "cached": len(prompts) - len(todo),
            "prompt_tokens_est": sum(estimate_prompt_tokens(p) for p in todo),
            "completion_tokens_max": len(todo) * self.params.max_tokens,
        }
