"""What a step can no longer see (issue 11, item 2). Each script prints `VISIBLE …` or
`LEAK …` for what it could read; the assertions name what leaked."""

import os
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.containment.steps import run_shell_step


def leaks(lines, marker):
    return [line for line in lines if line.startswith(marker)]


def test_a_step_cannot_read_the_environment_of_any_process_outside_it(workspace, run_tasks):
    # Every environ a step can read must be one of its own processes', which all carry
    # its JOBSITE_STEP_ID; the worker's holds SECRET_KEY, DATABASE_URL and the like.
    job, lines, _ = run_shell_step(
        workspace,
        run_tasks,
        r"""
        cat /proc/$PPID/environ > /dev/null 2>&1 && echo "PPID $PPID readable"
        for f in /proc/[0-9]*/environ; do
          text=$(tr '\0' '\n' < "$f" 2>/dev/null) || continue
          grep -q '^JOBSITE_STEP_ID=probe$' <<<"$text" || echo "LEAK $f: $(head -c 120 <<<"$text" | tr '\n' ' ')"
        done
        echo checked
        """,
    )
    assert "checked" in lines, lines
    assert leaks(lines, "LEAK") == []


def test_a_step_sees_only_its_own_processes(workspace, run_tasks):
    job, lines, _ = run_shell_step(
        workspace,
        run_tasks,
        """
        for d in /proc/[0-9]*; do echo "PROC $(tr '\\0' ' ' < $d/cmdline 2>/dev/null | head -c 100)"; done
        ps -e -o comm= | sed 's/^/PS /'
        """,
    )
    processes = [line.split(" ", 1)[1] for line in leaks(lines, "PROC")]
    commands = {line.split(" ", 1)[1] for line in leaks(lines, "PS ")}
    # bwrap's reaper (pid 1), the script's bash, and what the script itself ran.
    assert commands and commands <= {"bwrap", "bash", "ps", "tr", "head", "sed"}, commands
    assert len(processes) <= 5, processes
    others = [p for p in processes if not p.split(" ", 1)[0].endswith("/bwrap")]
    assert not [p for p in others if "python" in p or "postgres" in p or "redis" in p], others


def test_a_step_cannot_see_the_data_dir_the_database_or_other_jobs_work_dirs(workspace, run_tasks):
    database = Path(connection.settings_dict["NAME"])  # the SQLite file of this test run
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    (media / "other-workspace-upload.txt").write_text("whsec_other_workspace")
    # A step of another job, running at the same time, and its secret file.
    neighbour = (
        Path(settings.JOBSITE_WORK_DIR) / f"other-job-{uuid.uuid4().hex}" / "step-1" / "work"
    )
    neighbour.mkdir(parents=True, exist_ok=True)
    (neighbour / "secret.txt").write_text("other job's secret")
    probes = [database, media / "other-workspace-upload.txt", neighbour / "secret.txt"]
    if connection.vendor == "sqlite":
        assert database.is_file()  # else the probe would prove nothing
    script = "\n".join(
        f'test -e "{path}" && echo "VISIBLE {path}"; head -c 20 "{path}" 2>/dev/null && echo "LEAK {path}"'
        for path in probes
    )
    script += f'\nls -A "{settings.DATA_DIR}" | sed "s/^/DATA /"'
    script += f'\nls -A "{settings.JOBSITE_WORK_DIR}" | sed "s/^/WORK /"\necho checked'
    try:
        job, lines, _ = run_shell_step(workspace, run_tasks, script)
    finally:
        (media / "other-workspace-upload.txt").unlink()
        shutil.rmtree(neighbour.parent.parent)
    assert "checked" in lines, lines
    assert leaks(lines, "VISIBLE") == [] and leaks(lines, "LEAK") == []
    # Only the path down to the step's own directories exists inside the data dir.
    assert leaks(lines, "WORK ") == [f"WORK {job.pk}"]
    if Path(settings.JOBSITE_WORK_DIR).is_relative_to(settings.DATA_DIR):
        work_relative = Path(settings.JOBSITE_WORK_DIR).relative_to(settings.DATA_DIR)
        assert leaks(lines, "DATA ") == [f"DATA {work_relative.parts[0]}"]


def test_a_step_cannot_see_the_project_directory_or_the_home_directory(workspace, run_tasks):
    project = Path(settings.BASE_DIR)
    home = Path(os.path.expanduser("~"))
    script = f"""
    for f in "{project / "manage.py"}" "{project / "jobsite" / "settings.py"}" "{project / "pyproject.toml"}" \\
             "{home}" "{home / ".bashrc"}" "{home / ".profile"}"; do
      test -e "$f" && echo "VISIBLE $f"
    done
    echo "HOME=$HOME"
    echo checked
    """
    job, lines, _ = run_shell_step(workspace, run_tasks, script)
    assert "checked" in lines, lines
    assert leaks(lines, "VISIBLE") == []
    assert f"HOME={home}" not in lines
