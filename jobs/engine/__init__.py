"""The engine: the state table, the one writer of job state, claiming and finishing
steps, moving jobs forward and the fault rules. No views, no HTTP."""
