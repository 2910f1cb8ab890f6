"""QuantSR's MRML glue: everything the Slicer module does that needs MRML but not Qt or ``slicer.app``,
so it runs (and is tested) on the ``slicer-core`` wheel as well as inside Slicer."""
