"""The installable package: one import name, and only what the harness imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from .conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Import names of the distributions the harness may need, by distribution.
IMPORT_NAMES = {
    "playwright": "playwright",
    "pytest": "pytest",
    "pytest-playwright": "pytest_playwright",
    "pytest-xdist": "xdist",
    "pytest-html": "pytest_html",
    "pytest-metadata": "pytest_metadata",
    "pytest-rerunfailures": "pytest_rerunfailures",
    "pytest-split": "pytest_split",
    "junitparser": "junitparser",
    "python-dotenv": "dotenv",
    "python-slugify": "slugify",
}
#: Distributions the harness depends on without importing them: pytest plugins that
#: provide options and markers (--reruns, --splits, -n) the harness documents.
PLUGINS = {"pytest-xdist", "pytest-rerunfailures", "pytest-split", "pytest-playwright"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0].lower()


def _harness_imports() -> set[str]:
    found: set[str] = set()
    for folder in ("support", "fixtures", "stackwright"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"stackwright"}


#: What the harness imports only for a feature a team asks for, by the extra that
#: installs it: ``stackwright[postgresql]`` for ``database = postgresql``.
EXTRAS = {"psycopg": ("postgresql", "psycopg")}


def test_the_install_brings_only_what_the_harness_imports() -> None:
    required = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    imported = _harness_imports()
    for name, (extra, dist) in EXTRAS.items():
        assert name in imported, f"{name} is no longer imported: drop the {extra} extra"
        assert dist not in required, f"{dist} is for {extra} only: keep it an extra"
        declared = PYPROJECT["project"]["optional-dependencies"][extra]
        assert dist in {_name(r) for r in declared}
        imported.discard(name)
    assert not {"flask", "sqlalchemy", "aiohttp", "requests"} & required
    unknown = imported - set(IMPORT_NAMES.values())
    assert not unknown, f"the harness imports {unknown}: add them to IMPORT_NAMES"
    needed = {dist for dist, name in IMPORT_NAMES.items() if name in imported} | PLUGINS
    assert required == needed, f"declared {sorted(required)}, needed {sorted(needed)}"


def test_the_reference_apps_dependencies_are_an_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"flask", "sqlalchemy", "aiohttp", "requests"} <= {_name(r) for r in extras["app"]}
    assert any(r.startswith("stackwright[app") for r in extras["dev"])


def test_support_and_fixtures_are_mapped_without_links() -> None:
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert mapping["stackwright.support"] == "support"
    assert mapping["stackwright.fixtures"] == "fixtures"
    links = [path for path in (ROOT / "stackwright").iterdir() if path.is_symlink()]
    assert not links
    packages = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {
        "stackwright." + str(init.parent.relative_to(ROOT)).replace("/", ".")
        for folder in ("support", "fixtures")
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert on_disk <= packages, f"not packaged: {sorted(on_disk - packages)}"


def test_every_harness_module_is_importable_under_its_one_name() -> None:
    import importlib

    for folder in ("support", "fixtures"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name in ("preload_server.py", "group_guard.py"):
                continue  # run as files, never imported
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(("stackwright", *[p for p in parts if p != "__init__"]))
            module = importlib.import_module(name)
            assert Path(str(module.__file__)).resolve() == path.resolve()


def test_one_error_tree() -> None:
    """Every public exception of the library is a HarnessError, in support/errors.py."""
    import importlib
    import inspect

    from stackwright.support.errors import HarnessError

    for path in (ROOT / "support").rglob("*.py"):
        if path.name in ("preload_server.py", "group_guard.py"):
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(("stackwright", *[p for p in parts if p != "__init__"]))
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if not (inspect.isclass(value) and issubclass(value, BaseException)):
                continue
            if value.__module__ != name or attr.startswith("_"):
                continue
            assert name == "stackwright.support.errors", f"{name}.{attr} belongs in errors.py"
            assert issubclass(value, HarnessError), f"{attr} is not a HarnessError"


def test_the_readme_is_short_and_its_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "Linux" in readme
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / target).exists(), f"the README links to {target}, which is missing"


#: What test authors import from ``stackwright``: a name that disappears breaks suites.
PUBLIC_FACE = {
    "ConfigError", "DatabaseResetFailed", "ExpectConsoleError", "HarnessConfig",
    "HarnessError", "KeptUnavailable", "LogSlice", "PagePolicy", "PagePolicyViolation",
    "PageRecorder", "RunServiceDown", "ServiceDown", "ServiceError", "ServiceSpec", "Stack",
    "TestEventBuffer", "TestEventTimeout", "__version__",
}  # fmt: skip


def test_the_public_face_keeps_every_name() -> None:
    import stackwright

    assert set(stackwright.__all__) >= PUBLIC_FACE, PUBLIC_FACE - set(stackwright.__all__)
    for name in PUBLIC_FACE:
        assert getattr(stackwright, name) is not None
    from stackwright.support.browser.events import TestEventBuffer

    assert stackwright.TestEventBuffer is TestEventBuffer


def test_a_moved_module_still_imports_and_names_its_new_path() -> None:
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "from stackwright.support.events import TestEventBuffer\n"
        "import stackwright.support.browser.events as new\n"
        "assert TestEventBuffer is new.TestEventBuffer\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert (
        "DeprecationWarning: stackwright.support.events moved to "
        "stackwright.support.browser.events; the old path goes in the next release: "
        "from stackwright import TestEventBuffer"
    ) in run.stderr


def test_importing_the_face_does_not_import_the_browser_side() -> None:
    code = "import sys, stackwright.support.errors; print('playwright' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_the_readmes_code_imports_only_what_the_install_brings() -> None:
    """Its first test imported requests, which the harness's install does not bring."""
    readme = (ROOT / "README.md").read_text()
    brought = set(IMPORT_NAMES.values()) | set(sys.stdlib_module_names) | {"stackwright"}
    for block in re.findall(r"^```python\n(.*?)^```", readme, re.M | re.S):
        for node in ast.walk(ast.parse(block)):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            for name in names:
                assert name.split(".")[0] in brought, f"README imports {name}"
