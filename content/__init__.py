"""Hip Coach content: YAML data validated into pydantic models at load time."""

from content.loader import DEFAULT_DIR, ContentError, Problem, load
from content.schema import Content, Exercise, Ladder

__all__ = ["DEFAULT_DIR", "Content", "ContentError", "Exercise", "Ladder", "Problem", "load"]
