"""Hip Coach content: YAML data validated into pydantic models at load time."""

from hipcoach.content.loader import DEFAULT_DIR, ContentError, Problem, load
from hipcoach.content.schema import Content, Exercise, Ladder

__all__ = ["DEFAULT_DIR", "Content", "ContentError", "Exercise", "Ladder", "Problem", "load"]
