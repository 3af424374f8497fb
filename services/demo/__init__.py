"""`urgence demo`: a realistic synthetic semester, driven through the real intake, routing and state machine."""
