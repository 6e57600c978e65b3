"""Seeded mutants of nnaccel configurations (tests/test_config_fuzz.py): YAML mappings with keys
dropped, renamed or added, values replaced by other types and odd values, nested `hls` sections
broken, `--set` items of every shape, and YAML text cut, flipped and spliced."""
from __future__ import annotations

import copy
import random

import yaml

# values of every type YAML can produce, and some that look almost right
ODD_VALUES = [
    None, "", " ", 0, -1, 1, 7, 64.0, 128.0, 1.0, 2 ** 31, 10 ** 30, -0.0, 0.5, 3.7, 1e308, float("inf"), float("nan"), True, False,
    [], [1, 2], ["a"], {}, {"a": 1}, {1: 2}, {"Model": None}, "x" * 300, "a\nb", "..", "/", "/nonexistent/x.keras",
    "ap_fixed<16,6>", "ap_fixed<16,6", "ap_fixed<64,6>", "ap_int<8>", "float", "double", "auto", "io_stream",
    "axi_master", "external", "float32", "ultra96v2", "pynq-z2", "Ultra96V2", "nn_accel", "myproject", "1.0", "1",
    "latency", "Resource", "DistributedArithmetic", "\u00e9\u00e8", "\x7f", "${HOME}", "~", "-", "=", "{", "[",
]
ODD_KEYS = ["", " ", "Model", "hls", "Hls", "modle", "interface ", "x" * 200, 1, 0, True, None, 2.5, "a.b", "=", "\u00fc"]
HLS_PATHS = ["hls", "hls.Model", "hls.Model.Precision", "hls.Model.ReuseFactor", "hls.Model.Strategy",
             "hls.Model.BramFactor", "hls.LayerName", "hls.LayerName.dense", "hls.LayerName.dense.ReuseFactor",
             "hls.LayerName.dense.Precision", "hls.LayerName.dense.Precision.weight", "hls.LayerType",
             "hls.LayerType.Dense", "hls.LayerType.Dense.Strategy", "hls.LayerType.Nope.ReuseFactor", "hls.Flows",
             "hls.Optimizers", "hls.SkipOptimizers", "hls.Nonsense", "hls.Model.ReuseFactr"]
SET_VALUES = ["", "null", "~", "[]", "{}", "[1, 2]", "{a: 1}", "0", "-5", "1e400", ".nan", "true", "yes", "'quoted'",
              "ap_fixed<16,6>", "ap_fixed<16,6,RND,SAT>", "{Precision: ap_fixed<8,3>}", "{weight: 'ap_fixed<8,3>'}",
              "[a, b", "{a: [}", "!!python/object:os.system x", "&a [*a]", "2020-01-01", "0x10", "1_000", "x=y",
              "a: b", "- a", "'", '"', "|", "%YAML", "axi_master", "io_stream", "64", "5", "Latency", "float"]


def _paths(d, prefix=()):
    for k, v in list(d.items()):
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))


def _get_parent(d, path):
    for k in path[:-1]:
        d = d[k]
    return d


def mutate_mapping(base: dict, rng: random.Random, keys: list) -> tuple[str, dict]:
    """One to three structural mutations of a copy of `base`; returns (category, mutant)."""
    cfg = copy.deepcopy(base)
    cats = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        paths = list(_paths(cfg))
        op = rng.choice(("drop", "value", "value", "value", "rename", "add", "swap", "nest"))
        if op == "drop" and paths:
            p = rng.choice(paths)
            del _get_parent(cfg, p)[p[-1]]
        elif op == "value" and paths:
            p = rng.choice(paths)
            _get_parent(cfg, p)[p[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif op == "rename" and paths:
            p = rng.choice(paths)
            parent = _get_parent(cfg, p)
            parent[rng.choice(ODD_KEYS + keys)] = parent.pop(p[-1])
        elif op == "add":
            where = rng.choice([cfg] + [_get_parent(cfg, p)[p[-1]] for p in paths
                                        if isinstance(_get_parent(cfg, p)[p[-1]], dict)])
            where[rng.choice(ODD_KEYS + keys)] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif op == "swap" and len(paths) > 1:
            a, b = rng.sample(paths, 2)
            pa, pb = _get_parent(cfg, a), _get_parent(cfg, b)
            if a[-1] in pa and b[-1] in pb:
                pa[a[-1]], pb[b[-1]] = copy.deepcopy(pb[b[-1]]), copy.deepcopy(pa[a[-1]])
        elif op == "nest" and paths:
            p = rng.choice(paths)
            parent = _get_parent(cfg, p)
            parent[p[-1]] = rng.choice(([parent[p[-1]]], {"x": parent[p[-1]]}, {p[-1]: parent[p[-1]]}))
        else:
            op = "none"
        cats.append(op)
    return (f"mapping: {cats[0]}" if len(cats) == 1 else "mapping: 2-3 changes"), cfg


def mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    """YAML text cut, with flipped or inserted characters, or lines duplicated / re-indented."""
    op = rng.choice(("cut", "flip", "insert", "dup-line", "indent", "garbage"))
    if op == "cut":
        text = text[:rng.randrange(len(text) + 1)]
    elif op == "flip":
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars))
            chars[i] = chr(rng.choice((ord(chars[i]) ^ (1 << rng.randrange(7)), rng.randrange(1, 0x2FF))))
        text = "".join(chars)
    elif op == "insert":
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice((":", "- ", "\t", "{", "[", "&a ", "*a", "!!binary ", "? ", "\n  x: 1\n", "'"))\
            + text[i:]
    elif op == "dup-line":
        lines = text.splitlines()
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        text = "\n".join(lines)
    elif op == "indent":
        lines = text.splitlines()
        i = rng.randrange(len(lines))
        lines[i] = rng.choice(("  ", "    ", "\t")) + lines[i]
        text = "\n".join(lines)
    else:
        text = rng.choice(("", "---", "[]", "- a\n- b", "42", "null", "a", "{", "key: [", "%TAG ! x\n---\n",
                           "!!set {a, b}", "? [a, b]\n: c", "a: &x [*x]", "<<: {interface: axi_lite}"))
    return "text: " + op, text


def set_items(rng: random.Random, keys: list) -> tuple[str, list[str]]:
    """One to three `--set` items: known, dotted, odd or malformed keys with odd values."""
    out = []
    for _ in range(rng.randint(1, 3)):
        form = rng.choice(("key", "key", "hls", "odd-key", "no-equals"))
        if form == "no-equals":
            out.append(rng.choice(("interface", "", "=", "hls.Model", "a b")))
            continue
        key = {"key": lambda: rng.choice(keys), "hls": lambda: rng.choice(HLS_PATHS),
               "odd-key": lambda: rng.choice(("", ".", "a..b", "hls.", ".hls", "hls..Model", "x y", "model.x",
                                              "interface.x", "hls.Model.Precision.weight.x"))}[form]()
        out.append(f"{key}={rng.choice(SET_VALUES)}")
    return "--set", out


def dump(cfg) -> str:
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
