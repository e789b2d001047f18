"""The final model with the real embedded student: saved as a Hugging Face folder that plain transformers loads,
and that predicts like the student did."""

from __future__ import annotations

import pytest
from conftest import sst2_task

from s3_magic.session import Session

pytestmark = pytest.mark.slow


def test_final_model_reloads_with_plain_transformers_and_predicts_the_same(tmp_path, fake_llm):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task = sst2_task(
        **{
            "sizes__rounds": 0,
            "student__mode": "finetune",
            "student__epochs": 1,
            "student__max_length": 32,
            "final__recipes": ["weighted", "two_stage"],
        }
    )
    s = Session.create(task, folder=tmp_path / "runs")
    s.run()
    result = s.final(out=tmp_path / "model")
    assert result["path"] == str(tmp_path / "model") and result["recipe"] in ("weighted", "two_stage")
    assert {c["recipe"] for c in result["candidates"]} == {"weighted", "two_stage"}
    assert 0.0 <= result["check_acc"] <= 1.0 and result["n_real"] == 60
    card = (tmp_path / "model" / "README.md").read_text()
    assert s.run_id in card and "Check accuracy" in card and result["recipe"] in card

    texts = [e.text for e in s.data.test[:16]]
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    assert model.config.id2label == {0: "negative", 1: "positive"}
    with torch.inference_mode():
        logits = model(**tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")).logits
    reloaded = [model.config.id2label[i] for i in logits.argmax(-1).tolist()]

    student = s.ctx.final_student
    predicted = student.predict(s.data.test[:16]).labels
    if student.bf16:  # bf16 autocast in the student, fp32 here: a borderline example may flip
        assert sum(a == b for a, b in zip(predicted, reloaded, strict=True)) >= 14
    else:
        assert predicted == reloaded
