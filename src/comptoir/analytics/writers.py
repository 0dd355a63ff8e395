"""An export (`exports.Table`) written as CSV or Parquet, batch by batch: a download streams
the bytes as each batch is written, a file grows on disk, and memory holds one batch.

CSV: UTF-8, comma-separated, a header line; no byte-order mark unless asked (`bom`: what Excel
needs to read UTF-8 accents right, and what breaks other readers' first column name). A text
cell starting with = + - @ (or a tab, a carriage return) is prefixed with ' so that a
spreadsheet never runs it as a formula; numbers are written as numbers, a minus sign included.
Parquet: one row group per batch, zstd-compressed, timestamps in UTC.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from comptoir.analytics.exports import BOOL, DAY, FLOAT, INT, TEXT, TIME, Row, Table

FORMATS = ("csv", "parquet")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ARROW_TYPES = {
    INT: pa.int64(),
    FLOAT: pa.float64(),
    TEXT: pa.string(),
    BOOL: pa.bool_(),
    TIME: pa.timestamp("us", tz="UTC"),
    DAY: pa.date32(),
}


def safe_text(value: str) -> str:
    """A text cell a spreadsheet shows as text, never evaluates."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return safe_text(value)
    return value


class _Lines:
    """What `csv.writer` writes to, taken out after each batch."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> bytes:
        out = "".join(self.parts).encode()
        self.parts.clear()
        return out


def csv_chunks(table: Table, *, bom: bool = False) -> Iterator[bytes]:
    lines = _Lines()
    writer = csv.writer(lines, lineterminator="\r\n")
    writer.writerow([name for name, _kind in table.columns])
    yield ("\ufeff" if bom else "").encode() + lines.take()
    for batch in table:
        writer.writerows([csv_cell(v) for v in row] for row in batch)
        yield lines.take()


class _Sink(io.RawIOBase):
    """A write-only file for the Parquet writer whose bytes are taken out as they come."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def schema(table: Table) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in table.columns])


def record_batch(table: Table, rows: list[Row], arrow: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(table.columns)
    arrays = [pa.array(column, type=arrow.field(i).type) for i, column in enumerate(columns)]
    return pa.RecordBatch.from_arrays(arrays, schema=arrow)


def parquet_chunks(table: Table) -> Iterator[bytes]:
    sink = _Sink()
    arrow = schema(table)
    writer = pq.ParquetWriter(sink, arrow, compression="zstd")
    try:
        for batch in table:
            writer.write_batch(record_batch(table, batch, arrow))
            if chunk := sink.take():
                yield chunk
    finally:
        writer.close()
    yield sink.take()


def chunks(table: Table, fmt: str, *, bom: bool = False) -> Iterator[bytes]:
    if fmt == "csv":
        return csv_chunks(table, bom=bom)
    if fmt == "parquet":
        return parquet_chunks(table)
    raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")


def write(table: Table, fmt: str, path: Path, *, bom: bool = False) -> int:
    """Write the export to `path` (replaced); the number of rows written."""
    with path.open("wb") as out:
        for chunk in chunks(table, fmt, bom=bom):
            out.write(chunk)
    return table.rows
