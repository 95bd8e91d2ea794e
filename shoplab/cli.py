"""The ``shoplab`` console script.

Each area registers its own commands (``register(app)`` in its ``cli`` module) so that the areas
stay independent and the heavy imports (Feast, Streamlit) happen only inside the command that
needs them: ``shoplab --help`` stays fast.

Failures on purpose end here, once: :func:`main` turns a :class:`~shoplab.core.errors.ShoplabError`
(or a pydantic ``ValidationError`` that escaped a boundary) into one ``error: <message>`` line on
stderr and exit code 2. Anything else keeps its traceback: it is a bug, and the traceback is what
its report needs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import NoReturn

import typer

from shoplab.core.errors import ShoplabError

app = typer.Typer(
    name="shoplab",
    help="Feature store and A/B experimentation for e-commerce search and recommendation ranking.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _metric_names() -> frozenset[str]:
    """The analysis catalog, for ``shoplab experiments validate`` (imported only when it runs)."""
    from shoplab.analysis.metrics import metric_names

    return metric_names()


def _param_bounds() -> Mapping[str, tuple[float, float]]:
    """The simulator's stage parameter bounds, for ``shoplab experiments validate``."""
    from shoplab.simulator.params import PARAM_BOUNDS

    return PARAM_BOUNDS


def _register_all() -> None:
    from shoplab import analysis_cli, pipeline_cli, readme
    from shoplab.benchmarks import cli as bench_cli
    from shoplab.dashboards import cli as dashboard_cli
    from shoplab.events import cli as events_cli
    from shoplab.experiments import cli as experiments_cli
    from shoplab.features import cli as features_cli
    from shoplab.models import cli as models_cli
    from shoplab.simulator import cli as simulator_cli

    # the experiment layer validates against catalogs of the layers above it: composed here
    experiments_cli.register(
        app,
        metric_names=_metric_names,
        param_bounds=_param_bounds,
        param_checker=models_cli.param_checker,
    )
    for module in (
        simulator_cli,
        features_cli,
        models_cli,
        analysis_cli,
        pipeline_cli,
        dashboard_cli,
        bench_cli,
        readme,
    ):
        module.register(app)
    events_cli.register(simulator_cli.events_app)  # beside `events validate`


_register_all()


EXIT_INPUT = 2  # click's code for a bad parameter: a failure on purpose is the caller's to fix


def error_message(exc: BaseException) -> str | None:
    """The one line a failure on purpose prints, or ``None`` for a bug (keeps its traceback).

    A pydantic ``ValidationError`` lists every broken field as ``loc == input, msg``; pydantic is
    imported only when such an error exists, so ``shoplab --help`` does not pay for it.

    Example:
        >>> from shoplab.core.errors import InputError
        >>> error_message(InputError("--at == '2026-13-01', must be an ISO date."))
        "--at == '2026-13-01', must be an ISO date."
        >>> error_message(ZeroDivisionError()) is None
        True
    """
    if isinstance(exc, ShoplabError):
        return str(exc)
    if type(exc).__name__ == "ValidationError" and "pydantic" in type(exc).__module__:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            return f"{exc.title}: " + "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'} == {e['input']!r}, {e['msg']}"
                for e in exc.errors()
            )
    return None


def run(command: Callable[[], object]) -> NoReturn:
    """Run ``command`` (the app) and exit: one message and code 2 for a failure on purpose."""
    try:
        command()
    except Exception as exc:
        message = error_message(exc)
        if message is None:
            raise
        sys.stdout.flush()
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_INPUT)
    sys.exit(0)


def main() -> None:
    """Entry point of the ``shoplab`` console script."""
    run(app)
