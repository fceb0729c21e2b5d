"""The raw django-q2 task the benchmarks compare jobsite with.

`mark` does the least a task can do and still be seen to have run: it appends its tag
and the moment it started to a file (JOBSITE_BENCH_MARKS), one line per task, with one
O_APPEND write — a few microseconds, so the baseline stays a no-op."""

import os
import time


def mark(tag):
    started = time.time()
    line = f"{tag} {started:.6f}\n".encode()
    fd = os.open(os.environ["JOBSITE_BENCH_MARKS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
