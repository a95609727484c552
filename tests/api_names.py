"""The API names now live in the installed plugin (pytest_mpbt.api_names)."""
from pytest_mpbt.api_names import EVENT_NAMES, EVENTS, METHODS  # noqa: F401
