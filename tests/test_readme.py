"""The README's promises: its code runs, and CI runs its test command."""

import re

from conftest import REPO, shared_data_dir

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
    """Every python block of the README, in order, in one namespace (the data-set block
    only where ../shared/data is present)."""
    monkeypatch.chdir(tmp_path)
    data = shared_data_dir()
    have_data = (data / "mnist" / "train-images-idx3-ubyte.gz").exists()
    monkeypatch.setenv("NNSCRATCH_DATA", str(data))
    namespace = {}
    ran = 0
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        if "load_mnist(" in block and not have_data:
            continue
        block = block.replace("verbose=2)", "verbose=0)")
        block = block.replace('"../shared/data"', repr(str(data)))
        exec(compile(block, "README.md", "exec"), namespace)
        ran += 1
    assert ran >= 5
    assert (tmp_path / "digits.npy").exists()
    assert (tmp_path / "best.npz").exists() and (tmp_path / "curves.png").exists()
    if have_data:
        assert namespace["x"].shape == (10000, 784)
