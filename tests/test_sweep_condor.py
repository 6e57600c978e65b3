"""The HTCondor backend of `nnaccel sweep submit`: its submit file parsed offline by HTCondor's own
htcondor2 bindings (what condor_submit would read: the queue statement, the item rows, each
job's arguments after macro expansion), checked against the bundle's sweep.json; the job
command is split with the argument rules of the HTCondor manual. No pool is needed."""
from __future__ import annotations

import json
import os
import sys

import pytest

import sweep_standin
from nnaccel.errors import NnaccelError
from nnaccel.sweep import backend_condor, batch

htcondor2 = pytest.importorskip("htcondor2")


def condor_split(text: str) -> list[str]:
    """HTCondor's new `arguments`/`environment` syntax (manual, condor_submit): the value is in
    double quotes, "" is a literal ", words split at white space, '...' quotes, '' inside is '."""
    assert text.startswith('"') and text.endswith('"'), text
    body = text[1:-1].replace('""', '"')
    words, cur, quoted, i, has = [], "", False, 0, False
    while i < len(body):
        c = body[i]
        if quoted:
            if c == "'" and body[i + 1:i + 2] == "'":
                cur += "'"
                i += 1
            elif c == "'":
                quoted = False
            else:
                cur += c
        elif c == "'":
            quoted, has = True, True
        elif c.isspace():
            if cur or has:
                words.append(cur)
            cur, has = "", False
        else:
            cur += c
        i += 1
    assert not quoted, text
    if cur or has:
        words.append(cur)
    return words


class Log(list):
    def __call__(self, msg):
        self.append(msg)


def _submit(bundle, indices, **kw):
    log = Log()
    args = {"seats": 2, "launcher": None, "wait": False, "dry_run": True} | kw
    assert backend_condor.submit(bundle, indices, log=log, **args) == 0
    return htcondor2.Submit((bundle / "condor/sweep.sub").read_text()), log


def _expanded(sub, item, key):
    """A submit command's value for one queue item, as condor_submit expands it."""
    one = htcondor2.Submit(dict(sub))
    for k, v in item.items():
        one[k] = v
    return one.expand(key)


def test_every_point_is_one_job_with_its_own_index(tmp_path):
    bundle = sweep_standin.make_bundle(tmp_path / "b", 5)
    sub, log = _submit(bundle, [0, 1, 2, 3, 4], seats=2)
    manifest = json.loads((bundle / "sweep.json").read_text())["points"]
    assert sub.getQArgs() == f"index,id,dir from {bundle}/points.txt"
    items = list(sub.itemdata())
    assert items == [{"index": str(p["index"]), "id": p["id"], "dir": p["dir"]} for p in manifest]
    assert sub["executable"] == sys.executable
    for p, item in zip(manifest, items):
        assert condor_split(_expanded(sub, item, "arguments")) == \
            ["-m", "nnaccel", "sweep", "run-point", str(bundle), "--index", str(p["index"])]
        assert _expanded(sub, item, "output") == f"{p['dir']}/condor.out"
        assert _expanded(sub, item, "error") == f"{p['dir']}/condor.err"
    assert sub["initialdir"] == str(bundle)
    assert sub["concurrency_limits"] == "vivado:1"
    assert sub["max_materialize"] == "2"
    assert sub["should_transfer_files"] == "NO"
    assert "environment" not in sub.keys()
    assert f"condor_submit {bundle}/condor/sweep.sub" in log[0]


def test_subset_and_launcher_and_awkward_paths(tmp_path):
    bundle = sweep_standin.make_bundle(tmp_path / "it's a \"bundle\"", 4)
    launcher = "apptainer exec --bind '/opt/Xilinx tools' vivado.sif"
    sub, _ = _submit(bundle, [3, 1], seats=1, launcher=launcher, licence="vivado_hls")
    assert sub.getQArgs() == f"index,id,dir from {bundle}/condor/points.txt"
    items = list(sub.itemdata())
    assert items == [{"index": "1", "id": "p0001", "dir": "points/p0001"},
                     {"index": "3", "id": "p0003", "dir": "points/p0003"}]
    assert condor_split(_expanded(sub, items[1], "arguments"))[4:] == [str(bundle), "--index", "3"]
    env = condor_split(sub["environment"])
    assert env == [f"EDALIZE_LAUNCHER={launcher}"]
    assert sub["concurrency_limits"] == "vivado_hls:1" and sub["max_materialize"] == "1"


def test_no_condor_submit_writes_the_file_and_names_the_command(tmp_path, monkeypatch):
    bundle = sweep_standin.make_bundle(tmp_path / "b", 2)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(NnaccelError, match=r"^HTCondor: `condor_submit` not found on PATH.*"
                                           r"wrote .*/condor/sweep.sub, submit it where HTCondor is with: "
                                           r"condor_submit .*/condor/sweep.sub$") as e:
        backend_condor.submit(bundle, [0, 1], seats=1, launcher=None, wait=True, dry_run=False, log=print)
    assert "\n" not in str(e.value)
    assert htcondor2.Submit((bundle / "condor/sweep.sub").read_text()).getQArgs().startswith("index,id,dir from")


def test_submit_and_wait_call_the_condor_commands(tmp_path, monkeypatch):
    """With condor_submit/condor_wait on PATH (stand-ins that record their arguments and run
    nothing), the cluster id from `condor_submit -terse` goes to condor_wait, then each point's
    result.json is reported."""
    bundle = sweep_standin.make_bundle(tmp_path / "b", 3)
    for i in (0, 2):  # as if the pool had run them; point 1 never ran
        (bundle / f"points/p000{i}/result.json").write_text('{"status": "ok"}')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "condor_submit").write_text(f'#!/bin/sh\necho "condor_submit $*" >> {calls}\necho "417.0 - 417.2"\n')
    (bin_dir / "condor_wait").write_text(f'#!/bin/sh\necho "condor_wait $*" >> {calls}\necho "All jobs done."\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    log = Log()
    assert backend_condor.submit(bundle, [0, 1, 2], seats=1, launcher=None, wait=True, dry_run=False, log=log) == 1
    assert calls.read_text().splitlines() == [f"condor_submit -terse {bundle}/condor/sweep.sub",
                                             f"condor_wait {bundle}/condor/condor.log 417"]
    assert "HTCondor cluster 417" in log[0]
    assert log[1].startswith("point 1 (p0001): missing")
    assert log[-1] == "3 points: 1 missing, 2 ok"


@pytest.mark.parametrize("kw, message", [
    ({"indices": [2]}, r"point index 2 is not in the bundle"),
    ({"seats": 0}, r"--seats 0: must be at least 1"),
    ({"licence": "viv-ado"}, r"HTCondor concurrency limit 'viv-ado'"),
    ({"launcher": "env X=$(pwd)"}, r"--launcher .* contains a newline or '\$\('"),
])
def test_bad_arguments_write_nothing(tmp_path, kw, message):
    bundle = sweep_standin.make_bundle(tmp_path / "b", 2)
    args = {"indices": [0, 1], "seats": 1, "launcher": None} | kw
    with pytest.raises(NnaccelError, match=message):
        backend_condor.submit(bundle, args.pop("indices"), wait=False, dry_run=True, log=print, **args)
    assert not (bundle / "condor").exists()
