"""The tree stays readable: no source file of the apps over 400 lines (issue 16; STYLE.md).
A file that grows past it is split by concern into modules whose names say what they
hold (docs/architecture.md is the map). Migrations are generated and left out."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("jobs", "jobsite", "templates_app")
MAX_LINES = 400


def source_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                yield path


def test_no_source_file_is_over_400_lines():
    counted = {path: len(path.read_text().splitlines()) for path in source_files()}
    assert len(counted) > 100  # the walk found the apps' modules
    too_long = {
        str(path.relative_to(ROOT)): lines for path, lines in counted.items() if lines > MAX_LINES
    }
    assert too_long == {}, f"split these by concern (at most {MAX_LINES} lines): {too_long}"
