"""Django's SQLite backend with the writers queued in the kernel for the write lock (base.py)."""
