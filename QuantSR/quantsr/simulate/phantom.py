"""The digital head phantom: MNI152 2009a GM/WM probability maps from the nilearn wheel (no download),
CSF = brain − GM − WM, a CSF rim, skull and scalp-fat shell grown from the brain outline, and per-subject
pose, size and smooth deformation (applied by resampling onto the scanner's object grid)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import InputError
from .anatomy import FoldingParameters, folded_tissues
from .population import TISSUES

_MNI_FILES = {
    "T1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "GM": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "WM": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
#: Shell thicknesses outside the brain outline (mm): subarachnoid CSF, skull, scalp.
CSF_RIM_MM, SKULL_MM, SCALP_MM = 2.0, 6.0, 5.0


#: A folder holding the three MNI152 files instead of nilearn's wheel (a machine without nilearn: the lent GPU).
MNI_DIR_VARIABLE = "QUANTSR_MNI152_DIR"


def mni_data_dir() -> Path:
    """The folder of the MNI152 2009a maps: ``$QUANTSR_MNI152_DIR`` if set, else the one inside nilearn."""
    if os.environ.get(MNI_DIR_VARIABLE):
        return Path(os.environ[MNI_DIR_VARIABLE])
    try:
        import nilearn
    except ImportError:
        raise InputError("the simulator needs nilearn (pip install nilearn): it ships the MNI152 maps; or set "
                         f"{MNI_DIR_VARIABLE} to a folder holding {', '.join(_MNI_FILES.values())}") from None
    return Path(nilearn.__file__).parent / "datasets" / "data"


@functools.lru_cache(maxsize=1)
def mni_tissues() -> sitk.Image:
    """Tissue fractions GM, WM, CSF, BONE, FAT (vector image, 1 mm, LPS) of the template head."""
    folder = mni_data_dir()
    images = {}
    for key, name in _MNI_FILES.items():
        path = folder / name
        if not path.is_file():
            raise InputError(f"MNI152 template missing (from nilearn's wheel, or {MNI_DIR_VARIABLE})", path)
        images[key] = sitk.ReadImage(str(path), sitk.sitkFloat32)
    scale = 255.0 if sitk.GetArrayViewFromImage(images["GM"]).max() > 1.5 else 1.0  # stored as 0–255
    gm = np.clip(sitk.GetArrayFromImage(images["GM"]) / scale, 0, 1)
    wm = np.clip(sitk.GetArrayFromImage(images["WM"]) / scale, 0, 1)
    t1 = sitk.GetArrayFromImage(images["T1"])
    brain = ndimage.binary_fill_holes(ndimage.binary_closing(t1 > 0.05 * t1.max(), iterations=2))
    brain_fraction = ndimage.gaussian_filter(brain.astype(np.float32), 0.7)
    total = gm + wm
    over = total > 1
    gm[over], wm[over] = gm[over] / total[over], wm[over] / total[over]
    csf = np.clip(brain_fraction - gm - wm, 0, 1)
    outside = ndimage.distance_transform_edt(~brain).astype(np.float32)  # mm (1 mm grid)
    rim = np.clip(CSF_RIM_MM + 0.5 - outside, 0, 1) * (outside > 0)
    skull = _band(outside, CSF_RIM_MM, CSF_RIM_MM + SKULL_MM)
    scalp = _band(outside, CSF_RIM_MM + SKULL_MM, CSF_RIM_MM + SKULL_MM + SCALP_MM)
    csf = np.clip(csf + rim, 0, 1 - gm - wm)
    fractions = {"GM": gm, "WM": wm, "CSF": csf, "BONE": skull, "FAT": scalp}
    reference = images["GM"]
    components = []
    for name in TISSUES:
        image = sitk.GetImageFromArray(fractions[name].astype(np.float32))
        image.CopyInformation(reference)
        components.append(image)
    return sitk.Compose(components)


def _band(distance: np.ndarray, inner: float, outer: float) -> np.ndarray:
    """Soft (1 mm ramp) band between two distances from the brain outline."""
    return (np.clip(distance - inner + 0.5, 0, 1) * np.clip(outer + 0.5 - distance, 0, 1)).astype(np.float32)


@functools.lru_cache(maxsize=1)
def brain_centre() -> np.ndarray:
    """LPS centroid (mm) of the template brain: the point the subject pose rotates about."""
    tissues = mni_tissues()
    gm_wm = sitk.VectorIndexSelectionCast(tissues, 0) + sitk.VectorIndexSelectionCast(tissues, 1)
    array = sitk.GetArrayFromImage(gm_wm)
    k, j, i = (np.asarray(v, dtype=np.float64) for v in np.nonzero(array > 0.5))
    index_centre = (i.mean(), j.mean(), k.mean())
    return np.asarray(gm_wm.TransformContinuousIndexToPhysicalPoint(index_centre))


def _xyz(values: np.ndarray) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in values)
    return x, y, z


@dataclass(frozen=True)
class Pose:
    """Where and how a subject's head lies, relative to the template: scanner point → template point."""

    rotation_deg: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    scale: tuple[float, float, float]
    deformation_mm: float
    seed: int

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Pose":
        size = rng.uniform(0.93, 1.07)
        return cls(
            rotation_deg=_xyz(rng.normal(0, [4.0, 3.0, 4.0])),
            translation_mm=_xyz(rng.normal(0, [3.0, 3.0, 2.0])),
            scale=_xyz(size * rng.uniform(0.97, 1.03, 3)),
            deformation_mm=float(rng.uniform(1.0, 3.0)),
            seed=int(rng.integers(2**31)),
        )

    def transform(self, grid: sitk.Image) -> sitk.Transform:
        """Scanner → template transform over ``grid`` (a smooth deformation, then the inverse pose).

        The head centre sits at the scanner's isocentre (0, 0, 0) plus the pose translation.
        """
        centre = brain_centre()
        affine = sitk.AffineTransform(3)
        rx, ry, rz = np.radians(self.rotation_deg)
        rotation = sitk.Euler3DTransform((0, 0, 0), rx, ry, rz).GetMatrix()
        forward = np.asarray(rotation).reshape(3, 3) @ np.diag(self.scale)  # template → scanner (linear)
        inverse = np.linalg.inv(forward)
        # template → scanner: x_s = F(x_t − centre) + t, so scanner → template: x_t = F⁻¹x_s + centre − F⁻¹t
        affine.SetMatrix(tuple(inverse.ravel()))
        affine.SetCenter((0.0, 0.0, 0.0))
        affine.SetTranslation(tuple(centre - inverse @ np.asarray(self.translation_mm)))
        bspline = sitk.BSplineTransformInitializer(grid, [4, 4, 3])
        rng = np.random.default_rng(self.seed)
        bspline.SetParameters(tuple(rng.normal(0, self.deformation_mm, len(bspline.GetParameters()))))
        composite = sitk.CompositeTransform([affine, bspline])  # applied last-added first
        return _as_displacement_field(composite, grid)


def _as_displacement_field(transform: sitk.Transform, grid: sitk.Image) -> sitk.Transform:
    """Sample a slow transform once on a coarse grid covering ``grid``: resampling through a displacement field is
    much cheaper than through the B-spline composite."""
    size = np.asarray(grid.GetSize())
    spacing = np.asarray(grid.GetSpacing())
    extent = size * spacing
    coarse_spacing = np.array([3.0, 3.0, 3.0])
    coarse_size = np.ceil(extent / coarse_spacing).astype(int) + 5
    origin = np.asarray(grid.GetOrigin()) - 2 * coarse_spacing
    field = sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, [int(v) for v in coarse_size],
                                              tuple(origin), tuple(coarse_spacing), grid.GetDirection())
    return sitk.DisplacementFieldTransform(field)


def individual_tissues(folding: FoldingParameters) -> sitk.Image:
    """The template head with one subject's synthetic cortical folding (:mod:`.anatomy`), same grid."""
    template = mni_tissues()
    base = np.moveaxis(sitk.GetArrayFromImage(template), -1, 0)  # (5, k, j, i)
    folded = np.moveaxis(folded_tissues(base, folding), 0, -1)
    image = sitk.GetImageFromArray(np.ascontiguousarray(folded, dtype=np.float32), isVector=True)
    image.CopyInformation(template)
    return image


def resample_tissues(pose: Pose, grid: sitk.Image, folding: FoldingParameters | None = None) -> np.ndarray:
    """Tissue fractions (5, k, j, i) of the posed subject on the scanner ``grid``: the template's anatomy, or
    an individual-looking one when ``folding`` is given."""
    tissues = individual_tissues(folding) if folding is not None else mni_tissues()
    resampled = sitk.Resample(tissues, grid, pose.transform(grid), sitk.sitkLinear, 0.0,
                              sitk.sitkVectorFloat32)
    array = sitk.GetArrayFromImage(resampled)  # (k, j, i, 5)
    return np.moveaxis(array, -1, 0)
