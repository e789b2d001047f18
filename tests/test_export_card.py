"""The dataset card the ``hf`` export writes next to the saved dataset."""

from __future__ import annotations

import pytest
from conftest import scripted_reply, sst2_task

from s3_magic.export import dataset_card
from s3_magic.session import Session

datasets = pytest.importorskip("datasets")


def test_hf_export_writes_a_dataset_card_with_the_rounds_and_rejections(tmp_path, fake_llm):
    def some_too_short(prompt):
        reply = scripted_reply(prompt)
        return "Meh." if "reasons" not in reply and len(reply) % 3 == 0 else reply

    fake_llm.responder = some_too_short
    task = sst2_task(**{"sizes__rounds": 1, "student__mode": "wordcount_final"})
    with Session.create(task, folder=tmp_path / "runs", name="card-run") as s:
        s.run()
        out = s.export(tmp_path / "ds", format="hf")
        rows = s.rounds()
        accepted = len(s.examples(accepted=True))
    card = (out / "README.md").read_text()
    assert datasets.load_from_disk(str(out)).num_rows == accepted, "the card does not disturb the dataset"
    assert card.startswith("---\n") and "# Synthetic data of run `card-run` (task `sst2-test`)" in card
    assert f"{accepted:,} accepted examples, written by `fake:scripted`" in card
    header = next(line for line in card.splitlines() if line.startswith("| round"))
    assert header == "| round | train | new | rejected | validation acc | check acc | test acc |"
    for r in rows:
        cells = [f"{100 * acc:.1f}%" for acc in (r.val_acc, r.check_acc, r.test_acc)]
        assert f"| {r.round} | {r.n_train} | {r.new_accepted} | {sum(r.rejected.values())} | " + \
            " | ".join(cells) + " |" in card  # fmt: skip
    assert "Validation accuracy is optimistic" in card and "held out of the loop" in card
    too_short = sum(r.rejected.get("too_short", 0) for r in rows)
    assert too_short > 0 and f"| too_short | {too_short} |" in card
    assert "## Columns" in card and "- `from_uid`: " in card
    assert "## Final model" not in card
    with Session.open("card-run", folder=tmp_path / "runs") as s:
        result = s.final()
        card = (s.export(tmp_path / "ds", format="hf") / "README.md").read_text()
    assert "## Final model" in card and f"saved to {result['path']}" in card


def test_card_without_check_split_or_evaluated_rounds(tmp_path, fake_llm):
    task = sst2_task(**{"check__fraction": 0, "student__mode": "wordcount_final"})
    with Session.create(task, folder=tmp_path, name="plain") as s:
        s.synthesize()
        rows = [{"id": 1, "text": "x", "label": "positive"}]
        card = dataset_card(s.store, s.run_id, rows)
        assert "| round | train | new | rejected | validation acc |" in card and "check acc" not in card
        assert "No round is evaluated yet." in card
        s.train()
        card = dataset_card(s.store, s.run_id, rows, include_rejected=True)
    assert "check acc" not in card and "held out" not in card and "Last round 0: validation accuracy" in card
    assert "every example, with the ones rejected" in card and "The filters rejected nothing." in card
