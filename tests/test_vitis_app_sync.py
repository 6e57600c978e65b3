"""The self-test app is rewritten before every build (edalize/tools/vitis_app.py `_sync`): it may
replace and delete only what an earlier sync wrote, never a file someone else put in the work root."""
from __future__ import annotations

from edalize.tools.vitis_app import _sync


def _tree(root, files: dict) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_sync_deletes_only_what_it_wrote(tmp_path):
    final = tmp_path / "app"
    first = tmp_path / "new1"
    _tree(first, {"src/main.c": "v1", "src/old_data.h": "old", "app.py": "script"})
    _sync(str(first), str(final))
    assert (final / "src" / "old_data.h").read_text() == "old"

    _tree(final, {"src/my_notes.c": "mine", "workspace/x.txt": "vitis"})  # not written by the sync
    second = tmp_path / "new2"
    _tree(second, {"src/main.c": "v2", "app.py": "script"})
    _sync(str(second), str(final))

    assert (final / "src" / "main.c").read_text() == "v2"
    assert not (final / "src" / "old_data.h").exists()      # written by the first sync, gone now
    assert (final / "src" / "my_notes.c").read_text() == "mine"  # a user's file stays
    assert (final / "workspace" / "x.txt").read_text() == "vitis"


def test_sync_keeps_unchanged_files_mtime(tmp_path):
    import os

    final = tmp_path / "app"
    first = tmp_path / "new1"
    _tree(first, {"src/main.c": "same"})
    _sync(str(first), str(final))
    os.utime(final / "src" / "main.c", (1_000_000, 1_000_000))
    second = tmp_path / "new2"
    _tree(second, {"src/main.c": "same"})
    _sync(str(second), str(final))
    assert os.stat(final / "src" / "main.c").st_mtime == 1_000_000  # make does not rebuild the .elf
