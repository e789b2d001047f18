"""Test-only switch for notebooks run headless: the scripted LLM and the word-count student.

A notebook's first cell runs ``runpy.run_path(os.environ["S3_MAGIC_TEST_FAKE"])["install"]()`` when the
variable is set (to this file's path); real users never set it. It works through the registries, in the kernel's
process only: importing ``conftest`` registers the scripted LLM (provider ``fake``), which the magics then use by
default, and the word-count student stands in for the ``fast`` and ``finetune`` modes (the ones a notebook can ask
for with ``S3Magics.student_mode``).
"""

from __future__ import annotations

import sys
from pathlib import Path


def install() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import FAKE, WordCountStudent, scripted_reply
    from IPython import get_ipython

    from s3_magic.student import register_student, student_entry

    def word_count(labels, model="", **options):  # the mode's options are checked, then left unused
        return WordCountStudent(labels)

    FAKE.reset(scripted_reply)
    for mode in ("fast", "finetune"):
        register_student(mode, word_count, student_entry(mode).options, replace=True)
    get_ipython().config.S3Magics.llm = "fake:scripted"  # read when %load_ext s3_magic makes the magics
