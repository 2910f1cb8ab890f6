"""Package discovery that pyproject.toml cannot express: everything under QuantSR/quantsr and
QuantSRTraining/quantsr_training, the Slicer glue QuantSR/QuantSRLib (``quantsr view`` runs the module's Logic),
plus quantsr.bundled_models, whose files live in Resources/Models (where the Slicer module also finds them;
package-dir in pyproject.toml maps it). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages("QuantSR", include=["quantsr", "quantsr.*"]),
        *find_packages("QuantSRTraining", include=["quantsr_training", "quantsr_training.*"]),
        "QuantSRLib",  # the Slicer module's Logic (no Qt): `quantsr view` runs on it (web extra)
        "quantsr.bundled_models",
    ]
)
