"""The shape of the package: every module imports; imports run one way, in layers (no cycle, counting imports
inside functions); no module imports another module's private name; library errors never name a command-line
flag (only ``loopkit.commands`` and ``loopkit.cli`` speak in flags)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

import loopkit

PACKAGE = Path(loopkit.__file__).resolve().parent

#: The groups, lowest first, each with its layers, lowest first: a module imports only from a lower group, or from
#: its own group's same or lower layer. The groups follow the paper's pipeline: the representation and the data set,
#: the settings, the metrics (pure numpy: ``latent`` and ``train`` measure with them), the models, training,
#: generation, what is played and shown, the tables and claims, your own loop, the listening test, the book, the
#: command line. A group's ``__init__`` (lazy re-exports) sits on top of its group.
GROUPS = [
    ("top", [("version", "errors", "atomic", "paper", "lazy", "runlock")]),
    ("data", [("data.inputs", "data.workers"), ("data.pianoroll",), ("data.rules",), ("data.dataset",),
              ("data.funnel", "data.journal", "data.synthetic", "data.midifile"), ("data.extract",), ("data",)]),
    ("sources", [("sources.debian", "sources.wad", "sources.lmd"), ("sources.games",), ("sources.grooves",),
                 ("sources",)]),
    ("config", [("config",)]),
    ("metrics", [("metrics.paper_metrics", "metrics.memorisation"), ("metrics.statistics",), ("metrics",)]),
    ("models", [("models.numerics",), ("models.blocks", "models.quantizer"),
                ("models.ar_lstm_vae", "models.nonar_lstm_vae", "models.cnn_vae", "models.vq_vae", "models.prior"),
                ("models.registry",), ("models.checkpoints",), ("models",)]),
    ("training", [("training.batches", "training.rundir"), ("training.train",), ("training",)]),
    ("generation", [("generation.sampling",), ("generation.latent",), ("generation.generate",), ("generation",)]),
    ("outputs", [("outputs.audio", "outputs.plots"), ("outputs.sample_folder",), ("outputs",)]),
    ("evaluation", [("evaluation.uncertainty",), ("evaluation.table_format",),
                    ("evaluation.verdicts", "evaluation.tables"),
                    ("evaluation.ablation", "evaluation.prior_accuracy", "evaluation.claims_samples"),
                    ("evaluation.claims",), ("evaluation",)]),
    ("ownloop", [("ownloop.resemblance", "ownloop.songread"), ("ownloop.reader",), ("ownloop.encode",),
                 ("ownloop.variations", "ownloop.interpolation"), ("ownloop",)]),
    ("listening", [("listening", "listening.*")]),
    ("book", [("book.build", "book.display", "book.rehearsal", "book.records"), ("book.lab",), ("book",)]),
    ("commands", [("commands", "commands.*")]),
    ("cli", [("cli", "__main__", "")]),  # "" is the package itself (loopkit/__init__.py)
]
#: Every group's layers in one list, lowest first.
LAYERS = [layer for _, layers in GROUPS for layer in layers]
#: The groups whose public names (``loopkit.GROUP.__all__``) may load torch: the others never do.
TORCH_GROUPS = {"models", "training", "generation", "outputs", "evaluation"}

FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-n)\b")


def _modules() -> dict[str, Path]:
    """Every module of the package, by its name relative to ``loopkit`` ("" for the package itself)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _layer(name: str) -> int:
    found = [i for i, layer in enumerate(LAYERS) for pattern in layer if name == pattern or fnmatch(name, pattern)]
    assert found, f"loopkit.{name} is in no layer of tests/test_architecture.py: place it"
    return found[0]


def _group(name: str) -> str:
    layer = LAYERS[_layer(name)]
    return next(group for group, layers in GROUPS if layer in layers)


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The loopkit-relative module an ``ImportFrom`` inside ``module`` names."""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".") if module else []
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """``(imported loopkit module, imported name or None, line)`` for every import of a loopkit module in
    ``module``, at any depth (inside functions too)."""
    tree = ast.parse(MODULES[module].read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "loopkit" or alias.name.startswith("loopkit."):
                    out.append((alias.name.removeprefix("loopkit").lstrip("."), None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve(module, node)
            elif node.module and (node.module == "loopkit" or node.module.startswith("loopkit.")):
                target = node.module.removeprefix("loopkit").lstrip(".")
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                if sub in MODULES:  # `from . import audio`: the module itself
                    out.append((sub, None, node.lineno))
                else:
                    out.append((target, alias.name, node.lineno))
    return out


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "__main__"))
def test_every_module_imports(module):
    importlib.import_module(f"loopkit.{module}" if module else "loopkit")


def test_every_module_is_placed_and_found_by_pkgutil():
    walked = {m.name.removeprefix("loopkit.") for m in pkgutil.walk_packages(loopkit.__path__, "loopkit.")}
    assert walked | {""} == set(MODULES)
    for module in MODULES:
        _layer(module)


def test_imports_run_one_way():
    wrong = []
    for module in MODULES:
        for target, _, line in _imports(module):
            if target != module and _layer(target) > _layer(module):
                wrong.append(f"loopkit.{module}:{line} imports loopkit.{target} from a higher layer")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in _imports(m) if t != m} for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t) :] + [t]
                pytest.fail("import cycle: " + " -> ".join(f"loopkit.{c}" for c in cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_module_imports_another_module_s_private_name():
    wrong = []
    for module in MODULES:
        tree = ast.parse(MODULES[module].read_text())
        modules_bound = {}
        for target, name, line in _imports(module):
            if name is not None and name.startswith("_") and not name.startswith("__") and target != module:
                wrong.append(f"loopkit.{module}:{line} imports {name} from loopkit.{target}")
        for node in ast.walk(tree):  # `from loopkit.training import train` ... `train._as_loops`
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("loopkit")):
                for alias in node.names:
                    target = _resolve(module, node) if node.level else node.module.removeprefix("loopkit").lstrip(".")
                    sub = f"{target}.{alias.name}" if target else alias.name
                    if sub in MODULES:
                        modules_bound[alias.asname or alias.name] = sub
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules_bound
                    and node.attr.startswith("_") and not node.attr.startswith("__")):  # fmt: skip
                wrong.append(f"loopkit.{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not wrong, "\n".join(wrong)


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_library_errors_never_name_a_flag():
    wrong = []
    for module, path in MODULES.items():
        if module in ("cli", "__main__") or module == "commands" or module.startswith("commands."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for text in _strings(node.exc):
                    if FLAG.search(text):
                        wrong.append(f"loopkit.{module}:{node.lineno}: {text!r}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_finds_what_it_looks_for():
    assert FLAG.search("use another --out") and FLAG.search("-n must be at least 1")
    assert not FLAG.search("non-negative numbers") and not FLAG.search("a bar form such as 'ABAB-ABCD'")
    assert _layer("data.extract") < _layer("sources.games") < _layer("config") and _layer("cli") == len(LAYERS) - 1
    assert _group("ownloop.reader") == "ownloop" and _group("lazy") == "top"


def test_every_module_sits_in_the_group_of_its_folder():
    wrong = [f"loopkit.{m} is placed in group {_group(m)}" for m in MODULES
             if "." in m and m.split(".")[0] != _group(m)]  # fmt: skip
    assert not wrong, "\n".join(wrong)
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, f"{len(top)} modules directly under loopkit/: {top}"


GROUP_PACKAGES = sorted(g for g, _ in GROUPS if (PACKAGE / g / "__init__.py").is_file())
#: The paper's section headings, one of which every group's docstring names.
SECTIONS = ("Data Preprocess", "Model Architecture", "Experiment Details", "Quantitative Evaluation",
            "Musical Metric Results", "Manipulating Latent Space", "Listening Test", "Corpora")


@pytest.mark.parametrize("group", GROUP_PACKAGES)
def test_every_group_opens_with_its_part_of_the_paper(group):
    doc = ast.get_docstring(ast.parse((PACKAGE / group / "__init__.py").read_text())) or ""
    assert any(section.lower() in doc.lower() for section in SECTIONS + ("the book",)), (group, doc[:200])


@pytest.mark.parametrize("group", GROUP_PACKAGES)
def test_a_group_s_public_names_load_torch_only_where_the_group_needs_it(group):
    """Every name in ``loopkit.GROUP.__all__`` resolves; a group outside ``TORCH_GROUPS`` loads no torch doing
    it (and data, the extraction's group, no pandas either); a group inside it does (the set is not stale)."""
    code = (f"import sys, loopkit.{group} as g\n"
            "for name in getattr(g, '__all__', []): getattr(g, name)\n"
            "print('torch' in sys.modules, 'pandas' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    torch_loaded, pandas_loaded = out[0] == "True", out[1] == "True"
    assert torch_loaded == (group in TORCH_GROUPS), (group, out)
    if group == "data":
        assert not pandas_loaded


def _imported_across_groups() -> dict[str, set[tuple[str, str]]]:
    """``{group: {(submodule, name), ...}}``: the names modules of other groups import from each group's
    submodules (``from loopkit.data.dataset import Loops`` in loopkit.metrics gives ``("dataset", "Loops")``)."""
    out: dict[str, set[tuple[str, str]]] = {}
    for module in MODULES:
        for target, name, _ in _imports(module):
            parts = target.split(".")
            if name is None or len(parts) != 2 or parts[0] not in GROUP_PACKAGES or _group(module) == parts[0]:
                continue
            out.setdefault(parts[0], set()).add((parts[1], name))
    return out


@pytest.mark.parametrize("group", GROUP_PACKAGES)
def test_a_group_exports_what_other_groups_import_from_it(group):
    """``loopkit.GROUP.__all__`` (its ``_EXPORTS``) names the surface other groups use: each name they import from
    the group's modules is exported from the module that defines it (a name that is also a submodule's, such as
    ``generation.generate``, is reached through its submodule), and every exported name resolves."""
    package = importlib.import_module(f"loopkit.{group}")
    exports = getattr(package, "_EXPORTS", None)
    if exports is None:  # a group that re-exports nothing (commands, listening, sources): only submodules are used
        return
    submodules = {p.stem for p in (PACKAGE / group).glob("*.py")}
    used = _imported_across_groups().get(group, set())
    missing = sorted(f"{sub}.{name}" for sub, name in used if name not in submodules and exports.get(name) != sub)
    assert not missing, f"loopkit.{group} should export (used by other groups): {missing}"
    assert all(name in vars(importlib.import_module(f"loopkit.{group}.{sub}")) for name, sub in exports.items())
