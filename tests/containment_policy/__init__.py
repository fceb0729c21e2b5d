"""Containment policy (issue 11 items 3, 4, 6, 7): the workspace settings staff set, the
limits and quotas they imply, off-is-loud and restart without loss. Unlike tests/containment
these do not need a working bwrap."""
