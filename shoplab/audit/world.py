"""The audit's simulated world: two experiments through the real simulator and policy.

The audit simulates into its own data root (``$SHOPLAB_DATA/audit/world``) so that it never
replaces the demo's event log: ``simulate`` clears ``events/`` before writing. Every shoplab
module resolves its paths through ``shoplab.core.paths.data_root()`` at call time, so pointing
``$SHOPLAB_DATA`` at the sub-root for the duration of the audit is the one switch needed
(:func:`data_root_at`; not thread-safe, like any environment change).

Two experiments run over the whole population, in different layers (so independently hashed):

- ``audit_aa`` (recall layer): two identical arms. Its exposures define the audited units; the
  A/A replications re-hash those units with fresh salts.
- ``audit_effect`` (rank layer): the treatment multiplies every click probability by
  ``click_mult``, injected by the simulator (``shoplab.simulator.policy``): the true relative CTR
  effect is ``click_mult − 1`` and the analysis must recover it from the event log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from shoplab.audit.settings import AuditSettings
from shoplab.core.paths import using_data_root
from shoplab.events import load_events
from shoplab.experiments import Experiment, Metrics, Variant
from shoplab.simulator import ExperimentPolicy, SimulationReport, simulate

__all__ = [
    "AA_KEY",
    "AUDITED_METRICS",
    "EFFECT_KEY",
    "START",
    "audit_experiments",
    "data_root_at",
    "simulate_world",
    "window",
]

AA_KEY = "audit_aa"
EFFECT_KEY = "audit_effect"
START = date(2026, 1, 1)
AUDITED_METRICS: tuple[str, ...] = ("ctr", "cvr", "gmv_per_user", "buyer_rate")


@contextlib.contextmanager
def data_root_at(root: Path) -> Iterator[Path]:
    """Point ``$SHOPLAB_DATA`` at ``root`` (created if missing) for the duration of the block."""
    root.mkdir(parents=True, exist_ok=True)
    with using_data_root(root) as resolved:
        yield resolved


def window(settings: AuditSettings) -> tuple[datetime, datetime]:
    """[start, end) of the experiments: after the pre-period, for ``experiment_days``."""
    start = datetime.combine(START, datetime.min.time(), tzinfo=UTC) + timedelta(
        days=settings.pre_days
    )
    return start, start + timedelta(days=settings.experiment_days)


def audit_experiments(settings: AuditSettings) -> dict[str, Experiment]:
    """The audit's two experiments (validated by the experiment models like any config)."""
    start, end = window(settings)
    metrics = Metrics(primary="ctr", secondary=[m for m in AUDITED_METRICS if m != "ctr"])

    def experiment(key: str, layer: str, variants: list[Variant], description: str) -> Experiment:
        return Experiment(
            key=key,
            layer=layer,
            salt=f"{key}_{settings.seed}",
            traffic=1.0,
            status="running",
            start=start,
            end=end,
            metrics=metrics,
            owner="experimentation-platform",
            variants=variants,
            description=description,
        )

    return {
        AA_KEY: experiment(
            AA_KEY,
            "recall",
            [Variant(key="control", weight=0.5), Variant(key="control_copy", weight=0.5)],
            "Calibration audit: identical arms.",
        ),
        EFFECT_KEY: experiment(
            EFFECT_KEY,
            "rank",
            [
                Variant(key="control", weight=0.5),
                Variant(key="treatment", weight=0.5, params={"click_mult": settings.click_mult}),
            ],
            "Calibration audit: known click-probability multiplier.",
        ),
    }


def simulate_world(settings: AuditSettings, *, progress: bool = False) -> SimulationReport:
    """Simulate the audit world into the current data root (see :func:`data_root_at`).

    The log is then validated (``shoplab.events.load_events``) like any log before analysis:
    the audit measures the analysis a scorecard runs, on a log it would accept.
    """
    policy = ExperimentPolicy(audit_experiments(settings), holdout=False)
    report = simulate(
        users=settings.users,
        items=settings.items,
        days=settings.pre_days + settings.experiment_days,
        seed=settings.seed,
        start=START,
        policy=policy,
        progress=progress,
    )
    load_events()
    return report
