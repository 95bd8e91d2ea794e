"""The event log: import a log's own files, validate on read, quarantine what breaks the contract.

``import_events()`` copies a marketplace's files (CSV or Parquet, mapped by an
:class:`ImportConfig`) into ``$SHOPLAB_DATA/events`` and validates them. ``load_events()`` checks
every file of ``$SHOPLAB_DATA/events`` against ``shoplab.core.contract`` and every row against the
rules in ``shoplab.events.rules``; rows that break a rule move to
``$SHOPLAB_DATA/quarantine/<table>/`` with their reason, and rows in = accepted + quarantined.
"""

from shoplab.events.errors import EventImportError, EventLogError
from shoplab.events.importer import ImportReport, TableImport, import_events
from shoplab.events.load import load_events
from shoplab.events.mapping import ImportConfig, load_import_config
from shoplab.events.report import LoadReport, TableLoad

__all__ = [
    "EventImportError",
    "EventLogError",
    "ImportConfig",
    "ImportReport",
    "LoadReport",
    "TableImport",
    "TableLoad",
    "import_events",
    "load_events",
    "load_import_config",
]
