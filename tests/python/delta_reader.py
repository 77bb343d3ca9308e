"""Reads a Delta table with delta-rs's Python bindings (PyPI `deltalake`),
an independent reader of what `microseg materialize` wrote, and prints every
row as one canonical text line, sorted, so the Rust test can compare rows.

Usage: delta_reader.py TABLE_FOLDER [VERSION]

Line format: column values joined by '|' in the table's column order
(sorted by name); NULL as \\N, floats with 6 decimals, dates ISO.
First line: the version read and the column names.
"""

import datetime
import os
import sys

from deltalake import DeltaTable


def cell(value):
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def main():
    folder = sys.argv[1]
    version = int(sys.argv[2]) if len(sys.argv) > 2 else None
    table = DeltaTable(folder, version=version)
    data = table.to_pyarrow_table()
    names = sorted(data.column_names)
    columns = [data.column(n).to_pylist() for n in names]
    lines = sorted("|".join(cell(c[i]) for c in columns) for i in range(data.num_rows))
    print(f"version={table.version()} columns={','.join(names)}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
    # Leave without interpreter teardown: the bindings' runtime threads have
    # been seen to abort ("terminate called without an active exception")
    # while Python shuts down on a loaded machine, after the rows were printed.
    sys.stdout.flush()
    os._exit(0)
