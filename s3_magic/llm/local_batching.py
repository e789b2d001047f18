"""Continuous batching for the local backend: many prompts decoded through a fixed number of batch slots.

Every prompt of a call waits in index order; up to ``slots`` of them are decoded together, one token per row per
step. A row that finishes (stop token or ``max_tokens``) frees its slot, and once enough slots are free the next
prompts are prefilled and take them, so the batch stays full until the prompts run out; then finished rows are
dropped from the batch. The key/value cache is one buffer per layer with a row per slot, written in place (no
copy of the whole cache per step), each row at its own column, with a mask of the columns it may attend to.

Prefill work is shared where prompts are the same: the tokens every prompt of the call starts with (system
prompt, chat markup) are computed once, and identical prompts admitted together (several samples of one request)
are computed once and their cache copied to each row. Prompts admitted together are prefilled in groups of
similar length (left padded inside a group).

It drives any transformers causal LM whose attention layers go through ``cache.update(...)`` and accept a ready
4D boolean attention mask (the transformers 5 decoder models).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

#: while prompts wait, free slots are refilled once this share of the batch is free (prefill runs in groups)
REFILL_SHARE = 1 / 8
#: once no prompt waits, finished rows stay in the batch until they are this share of it, then it is compacted
COMPACT_SHARE = 0.2
#: shortest common prompt prefix worth computing once per call
MIN_SHARED_PREFIX = 8
#: a prefill group is closed when the next prompt is longer than this factor times its shortest one (plus slack)
GROUP_LENGTH_FACTOR = 1.25
GROUP_LENGTH_SLACK = 4
#: at most this many prompt tokens (padding included) per prefill forward pass
GROUP_MAX_TOKENS = 4096

#: ``sample(logits, rows, steps)``: the next token of each logits row, for prompt ``rows[i]`` at step ``steps[i]``
Sampler = Callable[[torch.Tensor, list[int], list[int]], torch.Tensor]


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads (``None``: unchanged), then restore the setting."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class BatchStats:
    """What the decoding did, summed over calls: tokens, forward passes and how full the batch was."""

    rows: int = 0
    #: prompt tokens of the rows, and the tokens the prefill passes actually computed (shared prefix and identical
    #: prompts computed once, padding included)
    prompt_tokens: int = 0
    prefill_tokens: int = 0
    completion_tokens: int = 0
    prefill_passes: int = 0
    decode_steps: int = 0
    #: rows decoded per step, summed over steps: all rows in the batch, and those still generating
    slot_rows: int = 0
    live_rows: int = 0
    #: the batch size the steps could have used, summed over steps
    capacity_rows: int = 0
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0

    def add(self, other: BatchStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def minus(self, before: BatchStats) -> BatchStats:
        return BatchStats(**{f.name: getattr(self, f.name) - getattr(before, f.name) for f in fields(self)})

    def copy(self) -> BatchStats:
        return BatchStats(**{f.name: getattr(self, f.name) for f in fields(self)})

    @property
    def occupancy(self) -> float | None:
        """Rows still generating per decode step, as a share of the batch size (None before any step)."""
        return self.live_rows / self.capacity_rows if self.capacity_rows else None


class _PrefixCache:
    """A cache for one prefill pass: the shared prefix (if any) before the new keys/values of each layer."""

    def __init__(self, prefix: list[tuple[torch.Tensor, torch.Tensor]] | None, rows: int) -> None:
        self.prefix, self.rows = prefix, rows
        self.layers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def update(self, keys: torch.Tensor, values: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any) -> Any:
        if self.prefix is not None:
            pk, pv = self.prefix[layer_idx]
            keys = torch.cat([pk.expand(self.rows, -1, -1, -1), keys], dim=-2)
            values = torch.cat([pv.expand(self.rows, -1, -1, -1), values], dim=-2)
        self.layers[layer_idx] = (keys, values)
        return keys, values

    def kv(self, layers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [self.layers[i] for i in range(layers)]


class _SlotCache:
    """Keys/values of every batch slot: per layer a ``[slots, heads, columns, dim]`` buffer written in place.

    Slot ``s`` writes its next token at column ``write_col[s]`` and attends to the columns marked in ``valid``.
    ``active`` slots (the first ones) take part in a step.
    """

    def __init__(self, slots: int, columns: int, device: str) -> None:
        self.slots, self.columns, self.device = slots, columns, device
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.valid = torch.zeros(slots, columns, dtype=torch.bool, device=device)
        self.write_col = torch.zeros(slots, dtype=torch.long, device=device)
        self.active = 0
        self._width = 0
        self._rows = torch.arange(slots, device=device)

    def _allocate(self, like: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        for k, v in like:
            self.keys.append(k.new_zeros(self.slots, k.shape[1], self.columns, k.shape[3]))
            self.values.append(v.new_zeros(self.slots, v.shape[1], self.columns, v.shape[3]))

    def place(self, slots: torch.Tensor, kv: list[tuple[torch.Tensor, torch.Tensor]], src: torch.Tensor,
              valid: torch.Tensor) -> None:  # fmt: skip
        """Put prefilled rows ``src`` of ``kv`` (width ``W``) into ``slots``; ``valid[i]``: their ``W`` columns."""
        if not self.keys:
            self._allocate(kv)
        width = valid.shape[1]
        for layer, (k, v) in enumerate(kv):
            self.keys[layer][slots, :, :width] = k.index_select(0, src)
            self.values[layer][slots, :, :width] = v.index_select(0, src)
        self.valid[slots] = False
        self.valid[slots, :width] = valid
        self.write_col[slots] = width

    def begin_step(self) -> torch.Tensor:
        """Mark each active slot's write column valid; return the ``[active, 1, 1, width]`` attention mask."""
        n = self.active
        self.valid[self._rows[:n], self.write_col[:n]] = True
        self._width = int(self.write_col[:n].max()) + 1
        return self.valid[:n, None, None, : self._width]

    def update(self, keys: torch.Tensor, values: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any) -> Any:
        n, cols = self.active, self.write_col[: self.active]
        self.keys[layer_idx][self._rows[:n], :, cols] = keys[:, :, 0]
        self.values[layer_idx][self._rows[:n], :, cols] = values[:, :, 0]
        return self.keys[layer_idx][:n, :, : self._width], self.values[layer_idx][:n, :, : self._width]

    def move(self, src: torch.Tensor, dst: torch.Tensor) -> None:
        """Copy slots ``src`` into slots ``dst`` (only the rows that move are copied, in place)."""
        for buf in (*self.keys, *self.values, self.valid, self.write_col):
            buf[dst] = buf[src]


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all ``prompts`` share (each keeps one of its own); 0 when too few to bother."""
    if len(prompts) < 2:
        return 0
    first = prompts[0]
    shared = min(len(ids) for ids in prompts) - 1
    for ids in prompts[1:]:
        shared = next((i for i in range(shared) if ids[i] != first[i]), shared)
    return shared if shared >= MIN_SHARED_PREFIX else 0


def length_groups(lengths: Sequence[int]) -> list[list[int]]:
    """Indices into ``lengths`` in groups of similar length (shortest first) for the prefill passes."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        group = groups[-1] if groups else None
        fits = group is not None and (
            lengths[i] <= GROUP_LENGTH_FACTOR * lengths[group[0]] + GROUP_LENGTH_SLACK
            and lengths[i] * (len(group) + 1) <= GROUP_MAX_TOKENS
        )
        if fits:
            group.append(i)  # type: ignore[union-attr]
        else:
            groups.append([i])
    return groups


@dataclass
class _Row:
    index: int
    suffix: tuple[int, ...]
    tokens: list[int]


class ContinuousBatcher:
    """Decode ``prompts`` (token ids) through ``slots`` batch slots; see the module docstring.

    ``sample`` picks the next token of each row and must depend on that row's own state only. ``threads``
    applies to the computation only (not to the caller's code between yields).
    """

    def __init__(self, model: Any, cache_kwarg: str, stop_ids: Sequence[int], device: str, slots: int,
                 threads: int | None = None) -> None:  # fmt: skip
        self.model, self.cache_kwarg, self.device, self.slots = model, cache_kwarg, device, slots
        self.threads = threads
        self.stop = set(stop_ids)
        self.pad_id = int(stop_ids[0])
        self.layers = int(model.config.num_hidden_layers)
        self.stats = BatchStats()

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        with torch_threads(self.threads), torch.inference_mode():
            yield

    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any) -> Any:
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_kwarg: cache},
        )
        return out.logits[:, -1, :]

    def run(self, prompts: Sequence[Sequence[int]], max_new: int, sample: Sampler) -> Iterator[tuple[int, list[int]]]:
        """Yield ``(prompt index, new token ids incl. the stop token)`` as each prompt finishes."""
        if not prompts:
            return
        if max_new <= 0:
            yield from ((i, []) for i in range(len(prompts)))
            return
        self.stats.rows += len(prompts)
        self.stats.prompt_tokens += sum(len(p) for p in prompts)
        shared = shared_prefix_length(prompts)
        prefix = self._prefill_prefix(prompts[0][:shared]) if shared else None
        rows = [_Row(i, tuple(ids[shared:]), []) for i, ids in enumerate(prompts)]
        columns = shared + max(len(r.suffix) for r in rows) + max_new
        slots = min(self.slots, len(prompts))
        cache = _SlotCache(slots, columns, self.device)
        waiting = deque(rows)
        in_slot: list[_Row | None] = []  # the row of each active slot; None once it has finished
        positions = torch.zeros(slots, dtype=torch.long, device=self.device)
        last = torch.zeros(slots, dtype=torch.long, device=self.device)
        refill_at = max(1, int(slots * REFILL_SHARE))
        while True:
            free = [s for s, row in enumerate(in_slot) if row is None] + list(range(len(in_slot), slots))
            if waiting and len(free) >= min(refill_at, len(waiting)):
                admitted = [waiting.popleft() for _ in range(min(len(free), len(waiting)))]
                done = self._admit(admitted, free, in_slot, cache, prefix, shared, positions, last, sample, max_new)
                yield from self._finished(done)
            live = [s for s, row in enumerate(in_slot) if row is not None]
            if not live:
                if waiting:
                    continue
                return
            dead = len(in_slot) - len(live)
            if not waiting and dead and dead >= max(1, COMPACT_SHARE * len(in_slot)):
                self._compact(in_slot, len(live), cache, positions, last)
                live = list(range(len(live)))
            yield from self._finished(self._step(in_slot, live, cache, positions, last, sample, max_new))

    def _finished(self, rows: list[_Row]) -> Iterator[tuple[int, list[int]]]:
        for row in rows:
            self.stats.completion_tokens += len(row.tokens)
            yield row.index, row.tokens

    def _compact(self, in_slot: list[_Row | None], n_live: int, cache: _SlotCache, positions: torch.Tensor,
                 last: torch.Tensor) -> None:  # fmt: skip
        """Drop the finished rows: the live rows behind the first ``n_live`` slots move into the free ones there."""
        holes = [s for s in range(n_live) if in_slot[s] is None]
        movers = [s for s in range(n_live, len(in_slot)) if in_slot[s] is not None]
        if holes:
            src, dst = torch.tensor(movers, device=self.device), torch.tensor(holes, device=self.device)
            with self._compute():
                cache.move(src, dst)
                positions[dst], last[dst] = positions[src], last[src]
            for s, d in zip(movers, holes, strict=True):
                in_slot[d] = in_slot[s]
        del in_slot[n_live:]
        cache.active = n_live

    def _prefill_prefix(self, prefix: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        started = time.perf_counter()
        ids = torch.tensor([list(prefix)], device=self.device)
        cache = _PrefixCache(None, 1)
        mask = torch.ones(1, 1, len(prefix), len(prefix), dtype=torch.bool, device=self.device).tril_()
        with self._compute():
            self._forward(ids, mask, torch.arange(len(prefix), device=self.device)[None], cache)
        self.stats.prefill_tokens += len(prefix)
        self.stats.prefill_passes += 1
        self.stats.prefill_seconds += time.perf_counter() - started
        return cache.kv(self.layers)

    def _admit(self, admitted: list[_Row], free: list[int], in_slot: list[_Row | None], cache: _SlotCache,
               prefix: list[tuple[torch.Tensor, torch.Tensor]] | None, shared: int, positions: torch.Tensor,
               last: torch.Tensor, sample: Sampler, max_new: int) -> list[_Row]:  # fmt: skip
        """Prefill ``admitted`` rows into ``free`` slots and sample their first tokens; return the rows that are
        finished already."""
        started = time.perf_counter()
        distinct: dict[tuple[int, ...], list[tuple[_Row, int]]] = {}
        for row, slot in zip(admitted, free, strict=False):
            distinct.setdefault(row.suffix, []).append((row, slot))
            while slot >= len(in_slot):
                in_slot.append(None)
            in_slot[slot] = row
        cache.active = len(in_slot)
        suffixes = list(distinct)
        finished: list[_Row] = []
        with self._compute():
            for group in length_groups([len(s) for s in suffixes]):
                targets = [(row, slot, j) for j, u in enumerate(group) for row, slot in distinct[suffixes[u]]]
                tokens = self._prefill_group([suffixes[u] for u in group], targets, prefix, shared, cache,
                                             positions, last, sample)  # fmt: skip
                for (row, slot, _), tok in zip(targets, tokens, strict=True):
                    row.tokens.append(tok)
                    if tok in self.stop or max_new == 1:
                        in_slot[slot] = None
                        finished.append(row)
        self.stats.prefill_seconds += time.perf_counter() - started
        return sorted(finished, key=lambda r: r.index)

    def _prefill_group(self, suffixes: list[tuple[int, ...]], targets: list[tuple[_Row, int, int]],
                       prefix: list[tuple[torch.Tensor, torch.Tensor]] | None, shared: int, cache: _SlotCache,
                       positions: torch.Tensor, last: torch.Tensor, sample: Sampler) -> list[int]:  # fmt: skip
        """One prefill pass over distinct ``suffixes`` (left padded after the shared prefix); each target
        ``(row, slot, j)`` gets suffix ``j``'s cache in ``slot`` and a first token, which are returned."""
        n, width, dev = len(suffixes), max(len(s) for s in suffixes), self.device
        pads = [width - len(s) for s in suffixes]
        ids = torch.tensor([[self.pad_id] * p + list(s) for s, p in zip(suffixes, pads, strict=True)], device=dev)
        real = torch.arange(width, device=dev)[None, :] >= torch.tensor(pads, device=dev)[:, None]
        pos = (real.long().cumsum(-1) - 1).clamp_(min=0) + shared
        own = torch.ones(width, width, dtype=torch.bool, device=dev).tril_()[None] & real[:, None, :]
        own |= torch.eye(width, dtype=torch.bool, device=dev)[None]  # a padding query sees itself (no empty row)
        mask = torch.cat([own.new_ones(n, width, shared), own], dim=-1)[:, None]
        pcache = _PrefixCache(prefix, n)
        src = torch.tensor([j for _, _, j in targets], device=dev)
        logits = self._forward(ids, mask, pos, pcache).index_select(0, src)
        tokens = sample(logits, [row.index for row, _, _ in targets], [0] * len(targets))
        slots = torch.tensor([slot for _, slot, _ in targets], device=dev)
        valid = torch.cat([real.new_ones(n, shared), real], dim=-1).index_select(0, src)
        cache.place(slots, pcache.kv(self.layers), src, valid)
        positions[slots] = pos[:, -1].index_select(0, src) + 1
        last[slots] = tokens.to(last.device)
        self.stats.prefill_tokens += n * width
        self.stats.prefill_passes += 1
        return tokens.tolist()

    def _step(self, in_slot: list[_Row | None], live: list[int], cache: _SlotCache, positions: torch.Tensor,
              last: torch.Tensor, sample: Sampler, max_new: int) -> list[_Row]:  # fmt: skip
        """One decode step of every active slot; return the rows that finish."""
        started = time.perf_counter()
        n = len(in_slot)
        cache.active = n
        rows = [row for row in in_slot if row is not None]
        with self._compute():
            mask = cache.begin_step()
            live_t = torch.tensor(live, device=self.device)
            logits = self._forward(last[:n, None], mask, positions[:n, None], cache)
            if len(live) < n:
                logits = logits.index_select(0, live_t)
            tokens = sample(logits, [r.index for r in rows], [len(r.tokens) for r in rows])
            last[live_t] = tokens.to(last.device)
            positions[live_t] += 1
            cache.write_col[live_t] += 1
        self.stats.decode_steps += 1
        self.stats.slot_rows += n
        self.stats.live_rows += len(live)
        self.stats.capacity_rows += cache.slots
        finished = []
        for slot, row, tok in zip(live, rows, tokens.tolist(), strict=True):
            row.tokens.append(tok)
            if tok in self.stop or len(row.tokens) >= max_new:
                in_slot[slot] = None
                finished.append(row)
        self.stats.decode_seconds += time.perf_counter() - started
        return finished
