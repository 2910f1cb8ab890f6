"""The AAL regions warped into a simulated subject land on that subject's own anatomy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantsr.regions import PAPER_REGIONS, paper_region_of, read_label_names
from quantsr.simulate.atlas import cohort_regions, subject_regions
from quantsr.simulate.subject import SimulationConfig

CORTEX = ("Frontal", "Temporal", "Parietal", "Occipital", "Insula")
DEEP_GREY = ("Caudate", "Putamen", "Thalamus")


def test_aal_names_group_into_the_papers_regions() -> None:
    assert paper_region_of("Frontal_Sup_2_L") == "Frontal"
    assert paper_region_of("Precentral_R") == "Frontal"
    assert paper_region_of("Heschl_L") == "Temporal"
    assert paper_region_of("Hippocampus_R") == "Hippocampus"
    assert paper_region_of("ParaHippocampal_L") is None  # not one of the paper's ten
    assert paper_region_of("Cerebelum_Crus1_L") is None
    assert paper_region_of("Thalamus_L") == paper_region_of("Thalamus_R") == "Thalamus"


@pytest.fixture(scope="module")
def regions(patient):
    return subject_regions(patient.seed, SimulationConfig())


def test_regions_share_the_routine_grid_and_cover_the_papers_regions(patient, regions) -> None:
    routine = patient.truth[next(iter(patient.truth))]
    assert regions.same_geometry(routine)
    present = {PAPER_REGIONS[int(v)] for v in np.unique(regions.array) if v > 0}
    # The 120 mm slab covers the cerebrum: every cortical lobe and the deep nuclei must be in it.
    assert set(CORTEX) | set(DEEP_GREY) <= present, present


def test_regions_sit_on_the_subjects_grey_matter(patient, regions) -> None:
    """Warped with the subject's pose and deformation, cortical regions fall on cortex and the deep nuclei
    on grey matter: the atlas follows the anatomy, not the template's position."""
    gm = patient.fractions["GM"].array
    brain = sum(patient.fractions[t].array for t in ("GM", "WM", "CSF"))
    by_name = {name: value for value, name in PAPER_REGIONS.items()}
    cortex = np.isin(regions.array, [by_name[n] for n in CORTEX])
    deep = np.isin(regions.array, [by_name[n] for n in DEEP_GREY])
    assert (brain[cortex] > 0.5).mean() > 0.9
    assert gm[cortex].mean() > 0.45 and gm[deep].mean() > 0.5
    # Another subject's pose puts the same atlas on this subject's cortex less well (measured 0.55 vs 0.50).
    other = subject_regions(patient.seed + 1, SimulationConfig())
    assert gm[np.isin(other.array, [by_name[n] for n in CORTEX])].mean() < gm[cortex].mean() - 0.02


def test_cohort_regions_reads_seed_and_settings(patient_dir, patient, regions) -> None:
    cohort, _ = patient_dir
    (cohort / "cohort.json").write_text(json.dumps({"config": {"slab_centre_mm": 8.0, "sub_slices": 5}}))
    again = cohort_regions(cohort, "sub-001")
    np.testing.assert_array_equal(again.array, regions.array)


def test_read_label_names(tmp_path) -> None:
    path = tmp_path / "names.csv"
    path.write_text("label,name\n1, Frontal \n2,Temporal\n")
    assert read_label_names(path) == {1: "Frontal", 2: "Temporal"}
    path.write_text("id,title\n1,x\n")
    with pytest.raises(Exception, match="columns"):
        read_label_names(path)
