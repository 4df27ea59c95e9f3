"""Use cases: each one unit-of-work transaction, taking primitives and ports."""
