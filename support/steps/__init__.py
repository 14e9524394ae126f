"""Run steps and their cache: the template database and builds, made once per run
and kept across runs by content."""

from __future__ import annotations

from stackwright.support.steps.cache import StepCache, bytes_of
from stackwright.support.steps.runner import StepRunner, build_template

__all__ = ["StepCache", "StepRunner", "build_template", "bytes_of"]
