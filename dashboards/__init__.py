"""The Streamlit experiment dashboard: ``shoplab dashboard`` / ``make dashboard``.

Layout: ``app.py`` (entry point and navigation), ``app_pages/`` (one script per page),
``data.py`` (every SDK read, cached), ``feature_registry.py`` (Feast registry, offline tables and
online store reads), ``views.py`` (SDK objects → tidy frames), ``charts.py`` (Altair),
``tables.py`` (table formats, verdict colours, the SRM banner), ``cli.py`` (the command).

Only the launcher is re-exported: importing the package must not import Streamlit, so that
``shoplab --help`` stays fast.
"""

from shoplab.dashboards.cli import APP_PATH, streamlit_command

__all__ = ["APP_PATH", "streamlit_command"]
