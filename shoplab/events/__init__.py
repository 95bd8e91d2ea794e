"""The event-log loader: validate on read, quarantine what breaks the contract, count everything.

``load_events()`` checks every file of ``$SHOPLAB_DATA/events`` against
``shoplab.core.contract`` and every row against the rules in ``shoplab.events.rules``; rows that
break a rule move to
``$SHOPLAB_DATA/quarantine/<table>/`` with their reason, and rows in = accepted + quarantined.
"""

from shoplab.events.errors import EventLogError
from shoplab.events.load import load_events
from shoplab.events.report import LoadReport, TableLoad

__all__ = ["EventLogError", "LoadReport", "TableLoad", "load_events"]
