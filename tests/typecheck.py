"""Type-check the installed namespace with mypy (configured in pyproject.toml): `python -m tests.typecheck`.

mypy cannot follow setuptools' editable-install finder, and the repository keeps its top-level folders
(bot/, flows/, content/) rather than a hipcoach/ folder. So this links hipcoach/{bot,flows,content} to
those folders under mypy's cache directory, puts the links on MYPYPATH, and reports each error at its
real path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]
LINKS = ROOT / ".mypy_cache" / "namespace"
PARTS = ("bot", "flows", "content")


def link_namespace() -> Path:
    """hipcoach/<part> -> the repository's <part>/ folder, made once and kept."""
    package = LINKS / "hipcoach"
    package.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        link = package / part
        if not link.is_symlink():
            link.symlink_to(ROOT / part, target_is_directory=True)
    return LINKS


def real_paths(report: str) -> str:
    """Error lines name bot/x.py, not the link under the cache."""
    for part in PARTS:
        report = report.replace(f"{LINKS / 'hipcoach' / part}/", f"{part}/")
        report = report.replace(f"{(LINKS / 'hipcoach' / part).relative_to(ROOT)}/", f"{part}/")
    return report


def main() -> int:
    os.environ["MYPYPATH"] = str(link_namespace())
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    sys.stdout.write(real_paths(stdout))
    sys.stderr.write(real_paths(stderr))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
