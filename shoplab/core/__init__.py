"""The ground layer: what every other part of shoplab stands on, importing nothing of the project.

Settings (one pydantic-settings model), paths under the data root, the event-log contract, the one
DuckDB connection factory, daily-file discovery, time parsing, atomic writes and the error root
live here, each rule once. Import-linter checks in CI that nothing here imports the layers above.
"""
