"""The Alembic migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from dealroom.db import load_models
from dealroom.migrate import alembic_config


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_models_and_migrations_agree(request, backend):
    engine = request.getfixturevalue(f"{backend}_engine")
    metadata = load_models().metadata
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == [], f"models differ from the migrated schema; write a migration for: {diff}"


def test_one_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"merge the migration branches: {heads}"
