"""What a user's ``pip install napari-rat-tms`` puts on disk (issue 24), now and at an earlier revision.

For each revision: build its wheel (``pip wheel --no-deps``; a ``git worktree`` for the earlier one),
install it with its base dependencies (no extra) into a fresh venv, and measure the venv's
``site-packages`` on disk, with the largest distributions. Then a smoke test of the installed
wheel (not editable): ``rat-tms --version`` and the import of its readers. Needs the package index
(PyPI or a mirror) for the dependencies; pip's cache makes the second install quicker.

    python benchmarks/bench_install_size.py [--before 4291c54] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


def _size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def _largest(site: Path, n: int = 6) -> list[tuple[str, int]]:
    sizes = [(p.name, _size(p)) for p in site.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")]
    return sorted(sizes, key=lambda item: -item[1])[:n]


def measure(source: Path, work: Path, label: str) -> dict:
    wheels = work / f"wheel-{label}"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)])
    wheel = next(wheels.glob("*.whl"))
    venv = work / f"venv-{label}"
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = venv / "bin" / "pip"
    start = time.perf_counter()
    _run([str(pip), "install", "-q", str(wheel)])
    seconds = time.perf_counter() - start
    site = next((venv / "lib").glob("python*/site-packages"))
    smoke = _run([str(venv / "bin" / "rat-tms"), "--version"]).stdout.strip()
    _run([str(venv / "bin" / "python"), "-c",
          "import napari_rat_tms.viewer.reader, napari_rat_tms.viewer.job_folder, napari_rat_tms.core.io"])
    return {"label": label, "wheel": wheel.name, "wheel_bytes": wheel.stat().st_size, "site_bytes": _size(site),
            "largest": _largest(site), "install_s": seconds, "smoke": smoke}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="4291c54", help="the earlier revision (default: %(default)s)")
    parser.add_argument("--keep", default=None, help="keep the venvs and wheels in this folder")
    args = parser.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rat-tms-install-"))
    work.mkdir(parents=True, exist_ok=True)
    before_tree = work / "before-tree"
    if before_tree.exists():
        _run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before_tree)])
    _run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before_tree), args.before])
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; python {sys.version.split()[0]}; before = {args.before}, "
          f"after = the working tree ({_run(['git', '-C', str(REPO), 'rev-parse', '--short', 'HEAD']).stdout.strip()})")
    try:
        rows = [measure(before_tree, work, "before"), measure(REPO, work, "after")]
    finally:
        _run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before_tree)])
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for row in rows:
        print(f"\n{row['label']}: {row['wheel']} ({row['wheel_bytes'] / 2**20:.1f} MiB); installed with its base "
              f"dependencies: {row['site_bytes'] / 2**20:.0f} MiB in site-packages ({row['install_s']:.0f} s); "
              f"smoke test: {row['smoke']}")
        for name, size in row["largest"]:
            print(f"    {name:24s} {size / 2**20:7.1f} MiB")
    ratio = rows[1]["site_bytes"] / rows[0]["site_bytes"]
    print(f"\nafter / before: {ratio:.2f} ({100 * (1 - ratio):.0f} % smaller)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
