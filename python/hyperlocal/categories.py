"""The Census general-health categories, defined once for the whole package."""

from __future__ import annotations

__all__ = ["HEALTH_CATEGORIES", "HEALTH_LABELS", "COMBINED"]

#: The five general-health categories, best to worst, as column names.
HEALTH_CATEGORIES: tuple[str, ...] = ("very_good", "good", "fair", "bad", "very_bad")

#: ONS labels of the categories (Census 2021 TS037 and 2011 KS301EW headers) → column names.
HEALTH_LABELS: dict[str, str] = dict(
    zip(
        ("Very good health", "Good health", "Fair health", "Bad health", "Very bad health"), HEALTH_CATEGORIES
    )
)

#: Combined categories reported alongside the five.
COMBINED: dict[str, tuple[str, ...]] = {
    "very_good_or_good": ("very_good", "good"),
    "bad_or_very_bad": ("bad", "very_bad"),
}
