"""The two-board pytest harness: Board objects, lazily started rigs, API coverage."""
