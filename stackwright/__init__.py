"""stackwright: an end-to-end test harness that boots a team's services per pytest-xdist worker.

The import names are ``stackwright.support`` (the library, no pytest) and
``stackwright.fixtures`` (the pytest plugin: ``-p stackwright.fixtures.plugin``).
In the repository they are the ``support/`` and ``fixtures/`` folders, mapped to
those names by ``pyproject.toml`` (``[tool.setuptools] package-dir``), so installing
the harness puts no ``support``, ``fixtures`` or ``app`` into a virtualenv, where
PyPI's ``fixtures`` or a team's ``app`` would clash with them.
"""
