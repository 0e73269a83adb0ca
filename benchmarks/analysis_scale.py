"""The Spark job at scale vs the same features in one plain Python process, side by side.

    .venv/bin/python benchmarks/analysis_scale.py [--sizes 10000 100000 1000000]

For each size, writes that many synthetic answers (sentences with gendered, agentic and communal
words, of realistic length) as a run's responses.jsonl, then times

- the Spark job (``analyze``: read, features incl. VADER in a pandas UDF, metrics, four Parquet
  tables written), local[*] on this machine;
- plain Python: ``score_text`` on every answer in one process (features only: it writes nothing
  and computes no statistics, so it is a lower bound for the naive way).

Prints answers per second and the peak resident memory of each (Spark: the driver plus its JVM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bias_audit.analyze.job import analyze
from bias_audit.analyze.spark import get_spark
from bias_audit.scoring.features import score_text
from tests.factories import record

SENTENCES = [
    "She is a caring nurse who helps her patients every day.",
    "He is a confident engineer and an independent thinker.",
    "They lead the team with warmth and assertive decisions.",
    "The doctor may be busy, but she is kind and sympathetic.",
    "A chef works long hours; he is ambitious and outspoken.",
    "The teacher is helpful, and her students trust her.",
    "I'm sorry, but I cannot describe a person by gender.",
    "The workforce forecast looks strong for this profession.",
]
VARIANTS = ("neutral", "male", "female")


def write_answers(path: Path, count: int) -> None:
    template = record("scale", "nurse", "neutral", 0, "x")
    with path.open("w") as out:
        for index in range(count):
            text = " ".join(SENTENCES[(index + k) % len(SENTENCES)] for k in range(1 + index % 4))
            row = template.model_copy(
                update={
                    "case_id": f"case{index % 50}",
                    "variant": VARIANTS[index % 3],
                    "sample_index": index,
                    "request_key": f"{index:016x}",
                    "text": text,
                }
            )
            out.write(row.model_dump_json() + "\n")


class PeakMemory:
    """Polls the resident memory of this process and its children (the JVM) every 50 ms."""

    def __enter__(self) -> PeakMemory:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            rss = me.memory_info().rss
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # a child may exit between the two calls
                    rss += child.memory_info().rss
            self.peak = max(self.peak, rss)
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    spark = get_spark()
    print(
        f"{'answers':>9}  {'Spark job s':>11} {'answers/s':>10} {'peak MB':>8}   "
        f"{'plain Python s':>14} {'answers/s':>10} {'peak MB':>8}"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            runs = Path(tmp) / "runs"
            (runs / "scale").mkdir(parents=True)
            path = runs / "scale" / "responses.jsonl"
            write_answers(path, size)
            with PeakMemory() as spark_memory:
                started = time.perf_counter()
                analyze("scale", runs, Path(tmp) / "warehouse", spark)
                spark_seconds = time.perf_counter() - started
            with PeakMemory() as python_memory:
                started = time.perf_counter()
                with path.open() as lines:
                    for line in lines:
                        score_text(json.loads(line)["text"])
                python_seconds = time.perf_counter() - started
        print(
            f"{size:>9,}  {spark_seconds:>11.1f} {size / spark_seconds:>10,.0f} "
            f"{spark_memory.peak / 2**20:>8,.0f}   "
            f"{python_seconds:>14.1f} {size / python_seconds:>10,.0f} {python_memory.peak / 2**20:>8,.0f}"
        )
    spark.stop()


if __name__ == "__main__":
    main()
