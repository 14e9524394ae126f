"""The template database step: built once, and a failure says exactly what went wrong."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from stackwright.support.config.settings import HarnessConfig
from stackwright.support.database import reset_database
from stackwright.support.database.sqlite import SqliteWorker
from stackwright.support.errors import ConfigError, DatabaseResetFailed, TemplateBuildFailed
from stackwright.support.steps.runner import build_template


def _config(tmp_path: Path, command: str) -> HarnessConfig:
    return HarnessConfig(
        root=str(tmp_path), output_dir=str(tmp_path / "out"), services=(), template_cmd=command
    )


def test_the_template_is_built_from_the_command(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "{python} -c \"import sys; open(sys.argv[1], 'w').write('db')\" {db}"
    )
    assert build_template(config) is not None
    assert config.template_path.read_text() == "db"


def test_exit_0_without_the_database_says_so(tmp_path: Path) -> None:
    config = _config(tmp_path, "{python} -c \"print('seeded nothing')\" {db}")
    with pytest.raises(TemplateBuildFailed) as info:
        build_template(config)
    text = str(info.value)
    assert "the command exited with code 0 but did not create the database at {db}" in text
    assert "failed with exit code 0" not in text
    assert "seeded nothing" in text
    assert "write its database to the path it gets as {db}" in text


def test_a_failing_command_shows_its_exit_code_and_output(tmp_path: Path) -> None:
    config = _config(tmp_path, "{python} -c \"import sys; sys.exit('seed broke')\"")
    with pytest.raises(TemplateBuildFailed) as info:
        build_template(config)
    assert "failed with exit code 1" in str(info.value) and "seed broke" in str(info.value)


def test_fresh_db_without_a_reset_request_copies_the_template_back(tmp_path: Path) -> None:
    seed = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "c.execute('create table t(x)'); c.execute('insert into t values (1)'); c.commit()"
    )
    config = _config(tmp_path, f'{{python}} -c "{seed}" {{db}}')
    build_template(config)
    worker_db = tmp_path / "worker.sqlite"
    live = sqlite3.connect(worker_db)  # the service keeps its connection open
    live.execute("create table t(x)")
    live.execute("insert into t values (2), (3)")
    live.commit()
    assert reset_database(config, SqliteWorker(config, worker_db), {})["status"] == "restored"
    assert live.execute("select x from t").fetchall() == [(1,)]
    live.close()


def test_fresh_db_with_nothing_to_restore_names_the_setting(tmp_path: Path) -> None:
    config = HarnessConfig(root=str(tmp_path), output_dir=str(tmp_path / "out"), services=())
    with pytest.raises(ConfigError, match=r"set db_reset in playwright\.ini .*or template_db_cmd"):
        reset_database(config, SqliteWorker(config, tmp_path / "app.sqlite"), {})


def test_a_reset_request_that_fails_names_url_and_status(tmp_path: Path) -> None:
    config = HarnessConfig(
        root=str(tmp_path),
        output_dir=str(tmp_path / "out"),
        services=(),
        db_reset="POST {backend_url}/no/such/reset",
    )
    with pytest.raises(DatabaseResetFailed) as info:
        worker = SqliteWorker(config, tmp_path / "a.sqlite")
        reset_database(config, worker, {"backend_url": "http://127.0.0.1:9"})
    assert "fresh_db: POST http://127.0.0.1:9/no/such/reset got no answer" in str(info.value)
    assert "check db_reset in playwright.ini" in str(info.value)


def test_a_hung_template_command_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    config = replace(
        _config(
            tmp_path, "{python} -c \"import time; print('seeding', flush=True); time.sleep(60)\""
        ),
        template_timeout=0.5,
    )
    with pytest.raises(TemplateBuildFailed) as info:
        build_template(config)
    text = str(info.value)
    assert "did not finish within 0.5 s; it was stopped" in text
    assert "seeding" in text and "template_db_timeout" in text


def test_the_template_command_sees_the_runs_environment(tmp_path: Path) -> None:
    write = "import os, sys; open(sys.argv[1], 'w').write(os.environ['FROM_ENV_FILE'])"
    config = _config(tmp_path, f'{{python}} -c "{write}" {{db}}')
    build_template(config, {**os.environ, "FROM_ENV_FILE": "seen"})
    assert config.template_path.read_text() == "seen"


def test_the_template_runs_in_its_cwd_with_its_env(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "seed.txt").write_text("from the backend folder")
    script = (
        "import os, sys; "
        "open(sys.argv[1], 'w').write(open('seed.txt').read() + os.environ['EXTRA'])"
    )
    config = replace(
        _config(tmp_path, f'{{python}} -c "{script}" {{db}}'),
        template_cwd="backend",
        template_env=(("EXTRA", " and ${SEED_BASE}/x"),),
    )
    build_template(config, {**os.environ, "SEED_BASE": "/base"})
    assert config.template_path.read_text() == "from the backend folder and /base/x"


def test_a_missing_template_cwd_names_the_setting(tmp_path: Path) -> None:
    config = replace(_config(tmp_path, "{python} -c pass {db}"), template_cwd="nowhere")
    with pytest.raises(ConfigError, match=r"fix template_db_cwd in playwright\.ini"):
        build_template(config)
