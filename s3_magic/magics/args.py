"""What the magics share: option groups, argument parsing, and the call into the plain-function twin
that turns ``S3Error`` into a one-line ``UsageError``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol, cast

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class MagicFunction(Protocol):
    """A magic's function after ``magic_arguments``: callable as before, with the parser built from its options."""

    parser: argparse.ArgumentParser

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


FOLDER = (argument("--folder", help="run folder (default: S3Magics.folder, s3_runs)"),)
BUDGET = (
    argument("--budget", type=int, help="token budget for the run's LLM calls (default: S3Magics.budget)"),
    argument("--budget-usd", type=float, help="money budget in US dollars (default: S3Magics.budget_usd)"),
    argument("--set", action="append", metavar="KEY=VALUE", help="change a task setting, e.g. sizes.rounds=3"),
)
SETTINGS = (
    argument("--llm", help="LLM as provider:model, e.g. local:embedded (default: S3Magics.llm)"),
    argument("--student-mode", choices=["finetune", "fast"], help="student training (default: S3Magics.student_mode)"),
    argument("--concurrency", type=int, help="parallel LLM calls for API backends (default: S3Magics.concurrency)"),
    argument("--rounds", type=int, help="error-extrapolation rounds of the task"),
    argument("--seed-examples", type=int, help="number of seed examples"),
    argument("--seed", type=int, help="random seed"),
    *BUDGET,
)
FILTERS = (
    argument("-r", "--round", dest="round_no", metavar="ROUND", type=int, help="round (default: see above)"),
    argument("--label", help="only this label"),
    argument("--kind", choices=["seed", "extrapolated", "zerogen"], help="only this kind of example"),
    argument("--verdict", help="only this filter verdict (ok, too_short, duplicate, refusal, ...)"),
)
PAGE = (argument("--page-size", type=int, help="rows per page (default: S3Magics.page_size)"),)
#: magic option names whose defaults come from the S3Magics traits of the same name
TRAIT_DEFAULTS = ("llm", "student_mode", "concurrency", "budget", "budget_usd")


def options(*args: Decorator) -> Callable[[Callable[..., Any]], MagicFunction]:
    """``magic_arguments`` with the given ``argument`` decorators (in the order given)."""

    def wrap(func: Callable[..., Any]) -> MagicFunction:
        for deco in reversed(args):
            func = deco(func)
        return cast(MagicFunction, magic_arguments()(func))

    return wrap


def parse(func: MagicFunction, line: str) -> argparse.Namespace:
    """Parse a magic's line with shell quoting (``--text "a b"`` is ``a b``); bad options raise ``UsageError``
    (the parser never calls ``sys.exit``)."""
    try:
        argv = arg_split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"{exc}; close the quotes in the magic's options") from None
    return func.parser.parse_args(argv)


def call(magics: Any, name: str, ns: argparse.Namespace, *args: Any, trait_defaults: bool = False) -> Any:
    """Call twin ``s3_magic.twins.<name>`` with the parsed options and the magics' configured defaults (folder,
    page size; with ``trait_defaults`` the settings of new runs); its result shows widgets as ``S3Magics.widgets``
    says."""
    import inspect

    from s3_magic import twins
    from s3_magic.errors import S3Error

    widgets = {"on": True, "off": False}.get(magics.widgets)
    func = getattr(twins, name)
    params = inspect.signature(func).parameters
    kwargs = {k: v for k, v in vars(ns).items() if v is not None}
    if trait_defaults:
        kwargs.update({k: getattr(magics, k) for k in TRAIT_DEFAULTS if kwargs.get(k) is None})
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if "folder" in params and "folder" in vars(ns):
        kwargs.setdefault("folder", magics.folder)
    if "page_size" in params:
        kwargs.setdefault("page_size", magics.page_size)
    if "reporter" in params:
        from s3_magic.views.progress import ProgressView

        kwargs["reporter"] = ProgressView(live=widgets)
    try:
        result = func(*args, **kwargs)
    except S3Error as exc:
        raise UsageError(str(exc)) from None
    if isinstance(result, twins.Result):
        result.widgets = widgets
    return result
