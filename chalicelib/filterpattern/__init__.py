"""CloudWatch Logs filter patterns: parse, print, and evaluate against log events."""

from .errors import FilterPatternError
from .evaluator import CompiledPattern, LogEvent, compile_pattern, parse_json_message, to_message
from .parser import parse
from .printer import to_pattern

__all__ = [
    "CompiledPattern",
    "FilterPatternError",
    "LogEvent",
    "compile_pattern",
    "parse",
    "parse_json_message",
    "to_message",
    "to_pattern",
]
