"""The Feast repo (``feast -c feature_repo apply``), installed as ``shoplab.feature_repo``.

Feast imports every other ``.py`` here as a top-level module (``features``, ``data_sources``) and
skips ``__init__.py``, so this file only makes the folder a package of the shoplab namespace: the
pipelines import as ``shoplab.feature_repo.pipelines``.
"""
