"""The s3-magic benchmark: the S3 paper's Table 2 in miniature on SST-2 or IMDb, plus speed figures, offline on
a CPU.

A distribution of its own (``s3-magic-bench``, in ``benchmarks/`` beside the library) that uses only the public
API of :mod:`s3_magic` (the names in ``s3_magic.__all__``). ``s3-magic-bench [--task imdb]`` (or
``s3-magic bench``) runs it; :func:`s3_magic_bench.runner.run_benchmark` is the same from Python. The fixed
protocol (tasks, arms, sizes, seeds, splits) is in :mod:`s3_magic_bench.protocol`. Importing this package is
light: the arms, speed measurements and the plot import torch, transformers and matplotlib only when they run.
"""

from __future__ import annotations

from s3_magic_bench.protocol import ARMS, PROFILES, TASKS, Protocol, get_protocol, get_task

__all__ = ["ARMS", "PROFILES", "TASKS", "Protocol", "get_protocol", "get_task"]
