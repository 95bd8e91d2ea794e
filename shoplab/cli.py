"""The ``shoplab`` console script.

Each area registers its own commands (``register(app)`` in its ``cli`` module) so that the areas
stay independent and the heavy imports (Feast, Streamlit) happen only inside the command that
needs them: ``shoplab --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="shoplab",
    help="Feature store and A/B experimentation for e-commerce search and recommendation ranking.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _register_all() -> None:
    from shoplab import pipeline_cli
    from shoplab.analysis import cli as analysis_cli
    from shoplab.benchmarks import cli as bench_cli
    from shoplab.dashboards import cli as dashboard_cli
    from shoplab.experiments import cli as experiments_cli
    from shoplab.features import cli as features_cli
    from shoplab.simulator import cli as simulator_cli

    for module in (
        simulator_cli,
        features_cli,
        experiments_cli,
        analysis_cli,
        pipeline_cli,
        dashboard_cli,
        bench_cli,
    ):
        module.register(app)


_register_all()


def main() -> None:
    """Entry point of the ``shoplab`` console script."""
    app()
