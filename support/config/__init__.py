"""Configuration, the bottom layer: the settings table, one frozen configuration
resolved from CLI > environment > playwright.ini > defaults, and services and run
steps as data. No runtime types: nothing here starts or reads a process."""

from __future__ import annotations

from stackwright.support.config.facts import RunFacts, run_values
from stackwright.support.config.resolve import Sources, ini_keys, read_ini, resolve_config
from stackwright.support.config.services import (
    LINELIST_SUFFIXES,
    SERVICE_KEYS,
    ServiceSpec,
    fill_text,
    service_names,
)
from stackwright.support.config.settings import (
    CACHE_MODES,
    LINELIST_KEYS,
    SERVICE_LOG_MODES,
    SETTINGS,
    HarnessConfig,
    Setting,
    parse_seconds,
)
from stackwright.support.config.steps import RunStep

__all__ = [
    "CACHE_MODES",
    "LINELIST_KEYS",
    "LINELIST_SUFFIXES",
    "SERVICE_KEYS",
    "SERVICE_LOG_MODES",
    "SETTINGS",
    "HarnessConfig",
    "RunFacts",
    "RunStep",
    "ServiceSpec",
    "Setting",
    "Sources",
    "fill_text",
    "ini_keys",
    "parse_seconds",
    "read_ini",
    "resolve_config",
    "run_values",
    "service_names",
]
