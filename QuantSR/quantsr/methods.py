"""The super-resolution methods, in one place: each has an identifier and a label.

- The **identifier** is what the code and the command line pass around: ``quantsr sr --method dl``,
  ``SRJob.method``, a result's ``metadata["method"]``, the Slicer module's method choice and parameter names.
- The **label** is what users read: node names ("T1 DL"), output names (``T1_DL.nrrd``, ``T1_DL/``), CSV and
  report columns, the DICOM SeriesDescription ("QuantSR T1 map (DL)"). Only DL has a label of its own; a baseline's
  label is its identifier.

The acquisitions a method is compared with ("fast", "routine", "truth") are their own labels, so
:func:`method_label` and :func:`method_from_label` pass any other name through unchanged. This module imports
nothing: the commands' parsers read ``METHODS`` before torch or scipy is loaded."""

from __future__ import annotations

DL = "dl"  # the SRGAN (Liu et al. 2026) through the engine
BICUBIC = "bicubic"
LINEAR = "linear"
#: What ``quantsr sr|batch --method`` accepts, DL first (the default).
METHODS = (DL, BICUBIC, LINEAR)
BASELINES = (BICUBIC, LINEAR)

_LABELS = {DL: "DL"}
_IDENTIFIERS = {label: method for method, label in _LABELS.items()}


def method_label(method: str) -> str:
    """The label users read for a method identifier: "DL" for "dl"; any other name as it is."""
    return _LABELS.get(method, method)


def method_from_label(label: str) -> str:
    """The method identifier of a label (the inverse of :func:`method_label`): "dl" for "DL"; any other name as it
    is."""
    return _IDENTIFIERS.get(label, label)
