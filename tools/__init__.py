"""Host-side tools: virtual radio, board launcher, demo."""
