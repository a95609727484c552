"""The Board API now lives in the installed plugin (pytest_mpbt.board); kept
so the tests' `from harness.board import ...` still reads the same."""
from pytest_mpbt.board import Board, BoardError, Event, RemoteUUID  # noqa: F401
