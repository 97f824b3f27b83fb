"""The compact BENCHMARKS.md tables keep what a reader needs: an error count that is not zero,
a level a set-up was not run at, the peers' figures beside intentbot's, the slowest data set."""

from __future__ import annotations

import json

from bench import report, serving, suite


def results(name: str) -> dict:
    """The recorded results, which each test alters where it needs a case they lack."""
    return json.loads((report.RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def rows_of(section: str) -> dict[str, list[str]]:
    """A section's last table: first cell -> the other cells."""
    table = section.split("\n\n")[-1].splitlines()[2:]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    return {row[0]: row[1:] for row in cells}


def test_serving_shows_one_row_a_setup_with_its_errors_and_missing_levels() -> None:
    record = results("serving")
    errored = next(level for level in record["levels"] if level["server"] == "bare 2-workers")
    errored["errors"] = 3
    rows = rows_of(serving.markdown(record))
    assert len(rows) == len(record["memory"])
    assert rows["bare, 2 workers"][4].startswith("3 / ")  # after c=1, 8, 32, 64
    assert rows["bare"][4].startswith("0 / ")
    assert rows["bare, 2 workers"][1] == "-"  # not run at c=8


def test_suite_puts_the_peers_beside_intentbot_and_times_the_slowest_data_set() -> None:
    record = results("suite")
    record["rows"]["bundled"]["intentbot"]["max_seconds"] = 301.0
    section = suite.markdown(record)
    assert "| slowest run (bundled) | <= 300 s | 301 s | miss |" in section
    few_shot = record["rows"]["clinc150-10-shot"]
    accuracy = rows_of(section)["clinc150-10-shot"][0]
    assert accuracy.endswith(
        f"({few_shot['tfidf']['accuracy']} / {few_shot['minilm']['accuracy']})"
    )
