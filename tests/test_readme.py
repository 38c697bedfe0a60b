"""The README's promises: its code runs, and CI runs its test command."""

import re

from conftest import REPO

README = (REPO / "README.md").read_text()


def quick_start_lines():
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_has_two_commands_and_ci_runs_the_second():
    lines = quick_start_lines()
    assert len(lines) == 2
    assert "nnscratch demo" in lines[0] and "pytest" in lines[1]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert lines[1] in ci


def test_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        block = block.replace("verbose=2)", "verbose=0)")
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "digits.npy").exists()
