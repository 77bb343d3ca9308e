"""How many bytes the Flight streaming bench's result takes as an Arrow IPC
stream, sent as today, with dictionary-encoded strings, and with the IPC's
own LZ4 / zstd compression; with the time to encode and decode each on one
thread. It reads the lake's `orders` with pyarrow (the same 11 columns as
flight_throughput.py) and asserts nothing about time.

    target/test-venv/bin/python benches/flight_bytes.py --lake bench-lake
"""

import argparse
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.ipc as ipc

COLUMNS = ["order_id", "customer_id", "order_ts", "channel", "device", "store_id",
           "amount", "discount", "n_items", "status", "promo_code"]


def stream(table, **options):
    """(bytes, encode seconds, decode seconds) of `table` as one IPC stream."""
    sink = pa.BufferOutputStream()
    started = time.perf_counter()
    with ipc.new_stream(sink, table.schema, options=ipc.IpcWriteOptions(**options)) as w:
        for batch in table.to_batches(max_chunksize=8192):
            w.write_batch(batch)
    encode = time.perf_counter() - started
    buf = sink.getvalue()
    started = time.perf_counter()
    back = ipc.open_stream(buf).read_all()
    decode = time.perf_counter() - started
    if back.num_rows != table.num_rows:
        raise SystemExit(f"decoded {back.num_rows} rows of {table.num_rows}")
    return buf.size, encode, decode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    args = ap.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    plain = ds.dataset(f"{args.lake}/orders", format="parquet",
                       partitioning="hive").to_table(columns=COLUMNS)
    strings = {c for c in COLUMNS if pa.types.is_string(plain[c].type)
               or pa.types.is_large_string(plain[c].type) or pa.types.is_string_view(plain[c].type)}
    dictionary = pa.table({c: pc.dictionary_encode(plain[c]) if c in strings else plain[c]
                           for c in COLUMNS})
    # Once unmeasured: the first stream pays for faulting in its buffers.
    stream(plain)
    print(f"{plain.num_rows} rows, Arrow {plain.nbytes / 1e9:.3f} GB; dictionary-encoded: {sorted(strings)}")
    for name, table, options in [
        ("as sent today", plain, {}),
        ("dictionary strings", dictionary, {}),
        ("LZ4", plain, {"compression": "lz4"}),
        ("dictionaries + LZ4", dictionary, {"compression": "lz4"}),
        ("zstd", plain, {"compression": "zstd"}),
    ]:
        size, encode, decode = stream(table, **options)
        print(f"{name:20s} {size / 1e9:.3f} GB  encode {encode:.2f} s  decode {decode:.2f} s")


if __name__ == "__main__":
    main()
