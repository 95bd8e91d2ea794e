"""The calibration audit: does the analysis stack say what it claims, on simulated data?

``run_audit()`` simulates a world with an A/A experiment and a known-effect experiment through the
real simulator and experiment policy, then measures on 1,000 fresh-salt re-hashes: A/A
false-positive rates, coverage of a known effect and power, always-valid vs naive daily peeking,
CUPED variance reduction, and SRM on an intact and a deliberately broken exposure log.
``shoplab audit`` prints the table and saves it under ``$SHOPLAB_DATA/audit/``.
"""

from shoplab.audit.checks import binomial_ci
from shoplab.audit.rehash import rehash_assignments
from shoplab.audit.render import render_json, render_markdown, render_rich, save_report
from shoplab.audit.results import (
    AaCheck,
    AuditReport,
    CoverageCheck,
    CupedCheck,
    DatasetInfo,
    SequentialCheck,
    SimulatedEffectCheck,
    SrmCheck,
)
from shoplab.audit.run import COVERAGE_METRICS, audit_dir, run_audit
from shoplab.audit.settings import AuditSettings
from shoplab.audit.world import AUDITED_METRICS, audit_experiments

__all__ = [
    "AUDITED_METRICS",
    "COVERAGE_METRICS",
    "AaCheck",
    "AuditReport",
    "AuditSettings",
    "CoverageCheck",
    "CupedCheck",
    "DatasetInfo",
    "SequentialCheck",
    "SimulatedEffectCheck",
    "SrmCheck",
    "audit_dir",
    "audit_experiments",
    "binomial_ci",
    "rehash_assignments",
    "render_json",
    "render_markdown",
    "render_rich",
    "run_audit",
    "save_report",
]
