"""The benchmark: the S3 paper's Table 2 in miniature on SST-2, plus speed figures, offline on a CPU.

``s3-magic bench`` runs it; :func:`s3_magic.bench.runner.run_benchmark` is the same from Python. The fixed
protocol (arms, sizes, seeds, split) is in :mod:`s3_magic.bench.protocol`. Importing this package is light:
the arms, speed measurements and the plot import torch, transformers and matplotlib only when they run.
"""

from __future__ import annotations

from s3_magic.bench.protocol import ARMS, PROFILES, Protocol, get_protocol

__all__ = ["ARMS", "PROFILES", "Protocol", "get_protocol"]
