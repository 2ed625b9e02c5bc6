"""Print the Python requirements of a dependency group from pyproject.toml ("core" = [project].dependencies)."""

import sys
from pathlib import Path

import tomllib

meta = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
group = sys.argv[1] if len(sys.argv) > 1 else "core"
deps = meta["dependencies"] if group == "core" else meta["optional-dependencies"][group]
# One word per requirement (the Makefile word-splits the list): spaces inside markers are dropped.
print(" ".join("".join(d.split()) for d in deps))
