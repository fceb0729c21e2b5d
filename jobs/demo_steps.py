"""Demo callables for `python` steps, allow-listed in the default JOBSITE_PYTHON_STEPS.

They show the whole contract of a python step: read `ctx.with_` (the step's `args`) or
`ctx.vars`, log, report progress, stop early when `ctx.heartbeat()` says so, and return
a dict of outputs.
"""

import re
from collections import Counter

WORD = re.compile(r"\w+(?:['’-]\w+)*")


def _numbers_from(value):
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"numbers must be a list or a comma-separated string, not {value!r}")
    numbers = []
    for item in items:
        if isinstance(item, str):
            if not item.strip():
                continue
            try:
                item = int(item) if item.strip().lstrip("+-").isdigit() else float(item)
            except ValueError:
                raise ValueError(f"{item.strip()!r} is not a number") from None
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ValueError(f"{item!r} is not a number")
        numbers.append(item)
    return numbers


def summarize_numbers(ctx):
    """Count, sum, mean, min and max of `numbers` (args first, then the job's variables):
    a list or a comma-separated string."""
    value = ctx.with_.get("numbers", ctx.vars.get("numbers"))
    numbers = _numbers_from(value)
    ctx.log("INFO", f"summarizing {len(numbers)} numbers")
    total = 0
    for index, number in enumerate(numbers, start=1):
        if ctx.heartbeat():
            return None  # the executor reports why the step stopped
        total += number
        if index % 1000 == 0 or index == len(numbers):
            ctx.progress(100 * index / len(numbers))
    summary = {
        "count": len(numbers),
        "sum": total,
        "mean": total / len(numbers) if numbers else None,
        "min": min(numbers) if numbers else None,
        "max": max(numbers) if numbers else None,
    }
    ctx.log("INFO", f"sum {summary['sum']}, mean {summary['mean']}")
    return summary


def count_words(ctx):
    """Number of words in `text` (args first, then the job's variables) and the five most
    frequent ones, case-insensitively, as [{"word": …, "count": …}]."""
    text = ctx.with_.get("text", ctx.vars.get("text", ""))
    if not isinstance(text, str):
        raise ValueError("text must be a string")
    words = [word.lower() for word in WORD.findall(text)]
    ctx.progress(50)
    top = [{"word": word, "count": n} for word, n in Counter(words).most_common(5)]
    ctx.log("INFO", f"{len(words)} words, {len(set(words))} distinct")
    ctx.progress(100)
    return {"words": len(words), "top": top}
