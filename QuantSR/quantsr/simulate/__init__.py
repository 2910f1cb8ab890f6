"""A physics-based simulator of fast and routine MDME synthetic-MRI acquisitions on a digital brain
phantom (MNI152 2009a tissue maps from the nilearn wheel), producing paired cohorts like Liu et al.'s."""
