"""The exceptions and warnings hyperlocal raises, declared once.

Every error message says what was expected, what was found, and where: the argument or column, how many rows
are bad, and the first few row indices. The Rust core raises these same classes (looked up here by name), so
``except hl.exceptions.InvalidInputError`` catches bad input wherever it is detected.
"""

from __future__ import annotations

__all__ = [
    "HyperlocalError",
    "InvalidInputError",
    "ComputeError",
    "HyperlocalWarning",
    "SkippedRowsWarning",
    "UnmatchedAreasWarning",
    "PermutationWarning",
]


class HyperlocalError(Exception):
    """Base class of every error raised by hyperlocal."""


class InvalidInputError(HyperlocalError, ValueError):
    """The input is not what the function accepts (bad values, nulls, mismatched lengths, unknown codes, ...).

    The message names the argument or column, the number of bad rows and the first few row indices.
    """


class ComputeError(HyperlocalError, RuntimeError):
    """Something went wrong inside the engine with valid input: a bug. Please report it with the message."""


class HyperlocalWarning(UserWarning):
    """Base class of hyperlocal's warnings."""


class SkippedRowsWarning(HyperlocalWarning):
    """Rows were dropped because the caller asked for it (``on_invalid="skip"``); the message says how many."""


class UnmatchedAreasWarning(HyperlocalWarning):
    """Areas present on one side of a join and absent from the other (e.g. crosswalk areas with no values):
    they contribute nothing. The message names how many and the first few codes."""


class PermutationWarning(HyperlocalWarning):
    """Too few permutations for the false-discovery-rate step to reach ``alpha`` at this number of cells: the
    smallest attainable pseudo p-value is too coarse. The message says how many permutations would do."""
