"""Results: each attempt's files and timeline, the run's results.json, the output
folder's claim, and ``stackwright merge`` with its report."""

from __future__ import annotations

from stackwright.support.results.attempt_files import AttemptRecord, file_record
from stackwright.support.results.folder_view import FolderView, read_folder, trace_note
from stackwright.support.results.manifest import (
    RESULTS_FILE,
    ResultsError,
    TestResult,
    is_flaky,
    write_results,
)
from stackwright.support.results.merge import merge_runs
from stackwright.support.results.output import OutputClaim, claim_output_dir

__all__ = [
    "RESULTS_FILE",
    "AttemptRecord",
    "FolderView",
    "OutputClaim",
    "ResultsError",
    "TestResult",
    "claim_output_dir",
    "file_record",
    "is_flaky",
    "merge_runs",
    "read_folder",
    "trace_note",
    "write_results",
]
