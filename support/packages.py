"""Debian's packages, for ``make setup``: install one when this process is root on a
machine with apt-get (the CI image), else say nothing and let the caller say what to do."""

from __future__ import annotations

import os
import shutil
import subprocess

_apt_state = {"updated": False}


def apt_install(package: str, *, why: str, label: str) -> bool:
    """apt-get install ``package`` when root on Debian; True when it worked. ``label``
    starts each line it prints (``browser:``, ``postgresql:``)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print(f"{label}: {why}; trying: apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [["apt-get", "install", "-y", "-qq", package]]
    if not _apt_state["updated"]:
        steps.insert(0, ["apt-get", "update", "-qq"])
    for step in steps:
        if subprocess.run(step, check=False, env=env).returncode != 0:
            print(f"{label}: '{' '.join(step)}' failed; continuing without it")
            return False
    _apt_state["updated"] = True
    return True
