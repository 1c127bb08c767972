"""The one error type of the filter-pattern engine."""


class FilterPatternError(ValueError):
    """An invalid filter pattern. ``offset`` is the 0-based character position of the problem."""

    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} (at offset {offset})")
        self.message = message
        self.offset = offset
