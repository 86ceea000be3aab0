"""Clean: turn row-level findings into a per-row decision (keep, repair or remove), apply
the pixel repairs, and profile the data as it will be stored.

:mod:`~dataqual.clean.plan` decides, :mod:`~dataqual.clean.stored` repairs and profiles,
:mod:`~dataqual.clean.planfile` writes and reads a plan as Parquet.
"""

from dataqual.clean.plan import CleaningPlan, plan_cleaning
from dataqual.clean.stored import apply_repairs, cleaned_profile

__all__ = ["CleaningPlan", "apply_repairs", "cleaned_profile", "plan_cleaning"]
