"""Entry point of the dashboard: ``streamlit run dashboards/app.py`` (``shoplab dashboard``).

The file is a router: it sets the page config, declares the pages with ``st.navigation`` and runs
the selected one. Every page reads through :mod:`dashboards.data` (the SDK, cached), so this file
holds no data access of its own.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from shoplab.dashboards.data import data_root_label

# Not "pages/": a folder of that name beside the entry point switches Streamlit to its older
# directory mode on the first render (file names in the sidebar) before st.navigation runs.
_PAGES = Path(__file__).with_name("app_pages")

# An emoji icon is drawn in the page (a data: URL); a ":material/...:" favicon is fetched from
# fonts.gstatic.com, and the dashboard must work offline and fetch nothing from the internet.
st.set_page_config(page_title="shoplab experiments", page_icon="🧪", layout="wide")

# url_path values are part of the public surface: analysts bookmark and share these URLs.
navigation = st.navigation(
    {
        "Experiments": [
            st.Page(
                _PAGES / "experiments.py",
                title="Experiments",
                url_path="experiments",
                icon=":material/list:",
                default=True,
            ),
            st.Page(
                _PAGES / "scorecard.py",
                title="Scorecard",
                url_path="scorecard",
                icon=":material/table_chart:",
            ),
            st.Page(
                _PAGES / "trends.py",
                title="Trends",
                url_path="trends",
                icon=":material/show_chart:",
            ),
            st.Page(
                _PAGES / "segments.py",
                title="Segments",
                url_path="segments",
                icon=":material/pie_chart:",
            ),
            st.Page(
                _PAGES / "interactions.py",
                title="Interactions",
                url_path="interactions",
                icon=":material/hub:",
            ),
            st.Page(_PAGES / "power.py", title="Power", url_path="power", icon=":material/bolt:"),
        ],
        "Feature store": [
            st.Page(
                _PAGES / "features.py",
                title="Features",
                url_path="features",
                icon=":material/dataset:",
            ),
        ],
        "Models": [
            st.Page(
                _PAGES / "models.py",
                title="Models",
                url_path="models",
                icon=":material/model_training:",
            ),
        ],
    }
)
st.sidebar.caption(f"data root: `{data_root_label()}`")
navigation.run()
