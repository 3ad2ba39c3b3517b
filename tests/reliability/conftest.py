"""The reliability tests: fuzzed inputs, killed recorders, dropped links, privacy (issue 8)."""
