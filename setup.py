"""Everything is in pyproject.toml except one build step: boards/ and sw/ stay at the top of
the repository (FuseSoC cores and `make -C sw` use them there), and a regular install has no
repository, so build_py copies them into the package as nnaccel/_data/ (nnaccel.resources
finds them there). An editable install reads them from the checkout instead."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA = ("boards", "sw")
# sw/python is installed as its own package (nnaccel_driver); the rest are build products
SKIP_DIRS = {"python", "build", "__pycache__"}
SKIP_SUFFIXES = {".o", ".so", ".a", ".pyc", ".elf"}


def data_files():
    for folder in DATA:
        for src in sorted((HERE / folder).rglob("*")):
            rel = src.relative_to(HERE / folder)
            if src.is_file() and not SKIP_DIRS & set(rel.parts[:-1]) and src.suffix not in SKIP_SUFFIXES:
                yield src


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for src in data_files():
            dst = Path(self.build_lib) / "nnaccel" / "_data" / src.relative_to(HERE)
            dst.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildPyWithData})
