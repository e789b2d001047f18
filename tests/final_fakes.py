"""A word-count student for tests of the final step: it goes on from its previous fit (``two_stage``) and saves a
small model folder, so ``Session.final`` runs every recipe and writes its folder in a second."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import WordCountStudent


class FinalWordCountStudent(WordCountStudent):
    """:class:`conftest.WordCountStudent` with warm starts (the counts add up) and ``save``."""

    supports_warm_start = True
    can_save = True

    def fit(self, examples, seed=0, progress=None, weights=None, warm_start=False) -> dict:
        old = (self.counts, self.prior) if warm_start and hasattr(self, "counts") else None
        stats = super().fit(examples, seed=seed, progress=progress, weights=weights)
        if old is not None:
            for lab in self.labels:
                self.counts[lab].update(old[0][lab])
            self.prior.update(old[1])
            self.vocab = set().union(*self.counts.values())
        return stats

    def save(self, path: str) -> None:
        counts = {lab: dict(c) for lab, c in self.counts.items()}
        Path(path, "word_counts.json").write_text(json.dumps({"labels": self.labels, "counts": counts}))


def use_final_student(monkeypatch) -> type[FinalWordCountStudent]:
    """Make the engine train :class:`FinalWordCountStudent` (rounds and final step alike)."""
    import s3_magic.engine.training as training

    monkeypatch.setattr(training, "make_student", lambda ctx: FinalWordCountStudent(ctx.task.label_names))
    return FinalWordCountStudent
