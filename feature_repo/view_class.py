"""The feature view class of this repo: Feast's, minus materialization state in its equality.

Feast's ``FeatureView.__eq__`` compares ``materialization_intervals``: state the registry records
when a view is loaded online, never written in a definition file. After any materialization the
registry's view then differs from the file's, and ``feast plan`` reported all five views as
"Updated" (printing only their data sources' creation times, the one visible difference), for a
repo nobody had changed (issue 12). Comparing definitions as definitions keeps ``feast plan``
clean after ``feast materialize``; ``feast apply`` keeps the registry's intervals either way.
"""

from feast import FeatureView


class DefinedFeatureView(FeatureView):
    """A ``FeatureView`` whose equality ignores materialization state (see the module doc).

    Python tries a subclass's reflected comparison first, so ``registry_view != defined_view``
    (Feast's diff) uses this ``__eq__`` too.
    """

    def __eq__(self, other: object) -> bool:
        """Equal as definitions: everything Feast compares but ``materialization_intervals``."""
        if not isinstance(other, FeatureView):
            return False
        saved = other.materialization_intervals
        other.materialization_intervals = self.materialization_intervals
        try:
            return bool(super().__eq__(other))
        finally:
            other.materialization_intervals = saved

    __hash__ = FeatureView.__hash__
