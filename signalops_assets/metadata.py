"""Dagster metadata helpers shared by the assets: typed tables, table schemas of the models
behind an asset, row counts. Numbers go in as numbers so the UI plots them over time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import MetadataValue, TableColumn, TableColumnConstraints, TableRecord, TableSchema

_TYPES = {int: "int", float: "float", bool: "bool", str: "string"}


def table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> MetadataValue:
    """A MetadataValue.table with its TableSchema; None cells are dropped from the record."""
    schema = TableSchema(columns=[TableColumn(name, kind) for name, kind in columns])
    records = [
        TableRecord(
            {
                name: value
                for (name, _), value in zip(columns, row, strict=True)
                if value is not None
            }
        )
        for row in rows
    ]
    return MetadataValue.table(records=records, schema=schema)


def model_schema(model: Any) -> TableSchema:
    """The column schema of a SQLAlchemy model's table (dagster/column_schema)."""
    columns = []
    for column in model.__table__.columns:
        try:
            kind = _TYPES.get(column.type.python_type, str(column.type).lower())
        except NotImplementedError:
            kind = str(column.type).lower()
        columns.append(
            TableColumn(
                column.name,
                kind,
                description=column.comment or None,
                constraints=TableColumnConstraints(nullable=bool(column.nullable)),
            )
        )
    return TableSchema(columns=columns)


def table_metadata(model: Any, row_count: int) -> dict[str, Any]:
    """dagster/row_count and dagster/column_schema for an asset backed by `model`'s table."""
    return {
        "dagster/row_count": MetadataValue.int(row_count),
        "dagster/column_schema": MetadataValue.table_schema(model_schema(model)),
    }
