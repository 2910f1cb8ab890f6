"""Fixtures shared by the Slicer Logic tests: a fresh real MRML scene (slicer-core wheel) and the Logic."""

from __future__ import annotations

import pytest


@pytest.fixture
def scene():
    slicer = pytest.importorskip("slicer", reason="the slicer-core wheel is not installed")
    return slicer.vtkMRMLScene()


@pytest.fixture
def logic(scene):
    from QuantSRLib.logic import QuantSRSceneLogic

    return QuantSRSceneLogic(scene)
