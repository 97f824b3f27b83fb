"""`classify --ray [ADDRESS]`: the single-process path's rows, `Predictor` and records, with the
answering done by Ray Data actors (`map_batches` with a class: each actor loads the model once).

The driver reads a CSV/TSV, JSON-lines or text input as the single-process path does
(`InputFile`: the same rows, the same bad rows with file:line) into Ray's object store, and
writes the answers in input order through the same writers; Ray reads a Parquet file or folder
itself. The model travels with the job (its files, through the object store), so the workers
need intentbot installed but no model store of their own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import ray
import ray.data

from intentbot.bulk.inputs import BadRow, InputFile, Row, check_row, table_columns
from intentbot.bulk.outputs import RecordWriter
from intentbot.bulk.stream import (
    CHUNK_SIZE,
    Counts,
    answer_rows,
    check_on_error,
    skip_or_stop,
)
from intentbot.bundle import Bundle, read_bundle
from intentbot.formats.base import Columns
from intentbot.predictor import Predictor
from intentbot.records import DEFAULT_TOP_K, Record

# A head node that is up accepts a connection in milliseconds; Ray itself would retry an
# address that does not answer for minutes, silently.
CONNECT_TIMEOUT_S = 10.0
# What crosses between the driver and the actors, a row a line: a bad row has no text and says
# why in `problem`; `where` is file:line ("" for Parquet rows, numbered on the way back).
ROWS = pa.schema(
    [
        ("text", pa.string()),
        ("label", pa.string()),
        ("where", pa.string()),
        ("problem", pa.string()),
    ]
)


class ClusterUnreachable(ConnectionError):
    """No Ray cluster answers at the address given."""


@contextlib.contextmanager
def cluster(address: str | None) -> Iterator[str]:
    """Join the Ray cluster at `address` (else RAY_ADDRESS, else a local Ray, started here and
    stopped after); yields what was joined. A Ray this process already runs (a test's, a
    notebook's) is used as it is and left running."""
    if ray.is_initialized():
        yield "the Ray this process runs"
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        check_answers(address)
    try:
        # workers' own output stays in Ray's session logs: classify draws the terminal
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    except ConnectionError as error:  # "auto" with no cluster, a head that went away
        raise ClusterUnreachable(_unreachable(address or "auto", error)) from None
    try:
        yield address or "a local Ray"
    finally:
        ray.shutdown()


def check_answers(address: str) -> None:
    """Fail within `CONNECT_TIMEOUT_S` where Ray would retry for minutes: the head node must
    accept a connection at `address` (`host:port` or `ray://host:port`)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():  # "auto", "local": Ray looks them up itself
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise ClusterUnreachable(_unreachable(address, error)) from None


def _unreachable(address: str, error: Exception) -> str:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return (
        f"no Ray cluster answers at {address} ({reason}); check the address (`ray status` on "
        "the head node; port 6379 by default, ray://HOST:10001 for Ray Client), that the head "
        "node is up and that this machine can reach that port, or leave ADDRESS out to start "
        "a local Ray"
    )


def is_parquet(path: Path) -> bool:
    """Ray reads a Parquet file, or a folder of them, itself."""
    return path.suffix.lower() == ".parquet" or path.is_dir()


def model_files(folder: Path) -> dict[str, bytes]:
    """Every file of a stored model by its path inside `folder`: what an actor rebuilds it from."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


class Answerer:
    """A Ray Data actor: rebuilds the model once from its files, then answers each batch of
    rows as the single-process path does (`answer_rows`): a record (a JSON line) per good row,
    the problem of each bad one."""

    def __init__(self, files: ray.ObjectRef, tag: str, batch_size: int, top_k: int) -> None:
        with tempfile.TemporaryDirectory(prefix="intentbot-model-") as folder:
            for name, content in ray.get(files).items():
                path = Path(folder, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            bundle = read_bundle(Path(folder), tag)  # reads everything answering needs
        # one thread an actor: an actor asks Ray for one CPU, and more actors use more
        self.predictor = Predictor(bundle, batch_size=batch_size, threads=1)
        self.tag, self.top_k = tag, top_k

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = [
            BadRow(where or "", problem) if problem else _checked(text, label, where or "")
            for text, label, where, problem in zip(
                *(_column(batch, name) for name in ROWS.names), strict=True
            )
        ]
        good = [row for row in rows if isinstance(row, Row)]
        records = iter(answer_rows(self.predictor, good, model=self.tag, top_k=self.top_k))
        return pa.table(
            {
                "record": [next(records).to_line() if isinstance(row, Row) else "" for row in rows],
                "where": [row.where for row in rows],
                "problem": [row.problem if isinstance(row, BadRow) else "" for row in rows],
            }
        )


def _column(batch: pa.Table, name: str) -> list:
    """A column's values; Nones where the batch has no such column (Parquet: no `where`)."""
    if name in batch.column_names:
        return batch.column(name).to_pylist()
    return [None] * batch.num_rows


def _checked(text: object, label: object, where: str) -> Row | BadRow:
    """A Parquet row (any column type, nulls) checked as the other formats' rows are."""
    return check_row(
        "" if text is None else str(text), None if label is None else str(label), where
    )


def classify_on_ray(
    source: InputFile | Path,
    writer: RecordWriter,
    bundle: Bundle,
    *,
    columns: Columns | None = None,
    actors: int | None = None,
    on_error: str = "skip",
    chunk_size: int = CHUNK_SIZE,
    batch_size: int = 256,
    top_k: int = DEFAULT_TOP_K,
    counts: Counts | None = None,
    on_bad_row: Callable[[BadRow], None] = lambda row: None,
    on_start: Callable[[int, int], None] = lambda rows, actors: None,
    on_chunk: Callable[[Counts], None] = lambda counts: None,
) -> Counts:
    """`classify_rows` on the Ray this process has joined (`cluster`): the same records in the
    same order, the same bad rows reported or ending the run; `actors` (default: one per CPU
    of the cluster) each load `bundle` once. `source` is read here (an `InputFile`) or, a
    Parquet file or folder, by Ray (`columns` finds its text and label); `on_start` hears how
    many rows there are to answer, and the actors."""
    check_on_error(on_error)
    counts = Counts() if counts is None else counts
    if isinstance(source, InputFile):
        rows, total = _put_rows(source, on_error, chunk_size)
        if rows is None:
            return counts
    else:
        rows, total = _parquet_rows(source, columns or Columns(), chunk_size)
    actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    on_start(total, actors)
    files = ray.put(model_files(bundle.folder))
    answered = rows.map_batches(
        Answerer,
        fn_constructor_kwargs={
            "files": files,
            "tag": bundle.tag,
            "batch_size": batch_size,
            "top_k": top_k,
        },
        batch_size=chunk_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
    )
    batches = answered.iter_batches(batch_size=None, batch_format="pyarrow")
    name = str(source.path if isinstance(source, InputFile) else source)
    return _write_answers(batches, writer, name, on_error, counts, on_bad_row, on_chunk)


def _put_rows(
    source: InputFile, on_error: str, block_rows: int
) -> tuple[ray.data.Dataset | None, int]:
    """The input's rows (bad ones too, to be reported in order) in blocks of `block_rows` in the
    object store, and how many; under `on_error="stop"` reading ends at the first bad row."""
    _configure_ray_data()
    blocks: list[ray.ObjectRef] = []
    block: list[Row | BadRow] = []
    total = 0
    for row in source:
        block.append(row)
        total += 1
        if isinstance(row, BadRow) and on_error == "stop":
            break  # the rows before it are answered and written, then the run stops there
        if len(block) >= block_rows:
            blocks.append(ray.put(_table(block)))
            block = []
    if block:
        blocks.append(ray.put(_table(block)))
    return (ray.data.from_arrow_refs(blocks) if blocks else None), total


def _table(rows: list[Row | BadRow]) -> pa.Table:
    good = [isinstance(row, Row) for row in rows]
    return pa.table(
        {
            "text": [row.text if ok else None for row, ok in zip(rows, good, strict=True)],
            "label": [row.label if ok else None for row, ok in zip(rows, good, strict=True)],
            "where": [row.where for row in rows],
            "problem": [None if ok else row.problem for row, ok in zip(rows, good, strict=True)],
        },
        schema=ROWS,
    )


def _parquet_rows(source: Path, columns: Columns, block_rows: int) -> tuple[ray.data.Dataset, int]:
    """A Parquet file or folder as `text` and `label` columns (found as a table's are) in blocks
    of about `block_rows`, and how many rows; read in full before the actors start: a pool
    that holds every CPU would leave none to read with."""
    _configure_ray_data()
    dataset = ray.data.read_parquet(str(source))
    names = dataset.schema().names
    text_at, label_at = table_columns(names, columns, str(source))
    chosen = {names[text_at]: "text"}
    if label_at is not None:
        chosen[names[label_at]] = "label"
    dataset = dataset.select_columns(list(chosen))
    renamed = {name: to for name, to in chosen.items() if name != to}
    dataset = dataset.rename_columns(renamed) if renamed else dataset
    total = dataset.count()
    # a file is one block: split, so that every actor gets a share
    return dataset.repartition(max(1, math.ceil(total / block_rows))).materialize(), total


def _configure_ray_data() -> None:
    """Answers come back in input order, as the single-process path writes them; Ray Data's
    own bars, plans and hints stay off the terminal (in its session logs), under classify's."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler):  # not the session's log files
            handler.setLevel(logging.ERROR)
    # an input of fewer blocks than actors is a small one, not a mistake
    warnings.filterwarnings("ignore", "The minimum number of concurrent actors", UserWarning)


def _write_answers(
    batches: Iterable[pa.Table],
    writer: RecordWriter,
    name: str,
    on_error: str,
    counts: Counts,
    on_bad_row: Callable[[BadRow], None],
    on_chunk: Callable[[Counts], None],
) -> Counts:
    """Write each batch's records in order; report each bad row where it falls (Parquet rows
    named by their number), or under `on_error="stop"` end the run there."""
    for batch in batches:
        records: list[Record] = []
        for line, where, problem in zip(
            *(batch.column(column).to_pylist() for column in ("record", "where", "problem")),
            strict=True,
        ):
            counts.read += 1
            if not problem:
                records.append(Record.from_dict(json.loads(line), where))
                continue
            if on_error == "stop":
                _write(writer, records, counts)
                records = []
            skip_or_stop(
                BadRow(where or f"{name} row {counts.read}", problem), on_error, counts, on_bad_row
            )
        _write(writer, records, counts)
        on_chunk(counts)
    return counts


def _write(writer: RecordWriter, records: list[Record], counts: Counts) -> None:
    if records:
        writer.write(records)
        counts.answered += len(records)
