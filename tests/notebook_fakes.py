"""Test-only switch for notebooks run headless: the scripted LLM and the word-count student.

A notebook's first cell runs ``runpy.run_path(os.environ["S3_MAGIC_TEST_FAKE"])["install"]()`` when the
variable is set (to this file's path); real users never set it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def install() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import WordCountStudent, scripted_reply
    from IPython import get_ipython

    import s3_magic.engine.training as training
    from s3_magic.llm.fake import FakeBackend

    FakeBackend.reset()
    FakeBackend.default_responder = scripted_reply
    training.make_student = lambda ctx: WordCountStudent(ctx.task.label_names)
    get_ipython().config.S3Magics.llm = "fake:scripted"  # read when %load_ext s3_magic makes the magics
