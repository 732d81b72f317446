"""The floor for runner_bench's first measure: a bare asyncio + aiohttp loop, no persistence, no parsing,
2,000 requests at concurrency 50 to the same fake server answering after 100 ms (ideal 4.0 s).

    .venv/bin/python bench/bare_loop_bench.py [--records 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _util import fake_server, machine, median, print_table

CONCURRENCY = 50
LATENCY_MS = 100


async def ask_all(url: str, records: int) -> float:
    import aiohttp

    pending = iter(range(records))
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for i in pending:  # the workers share one iterator: each record is asked once
                body = {"model": "m", "messages": [{"role": "user", "content": f"record {i}"}]}
                async with session.post(f"{url}/chat/completions", json=body) as response:
                    response.raise_for_status()
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with fake_server("--latency-ms", str(LATENCY_MS)) as url:
        times = [asyncio.run(ask_all(url, args.records)) for _ in range(args.repeat)]
    ideal = args.records * LATENCY_MS / 1000 / CONCURRENCY
    print_table(f"bare asyncio + aiohttp loop: {args.records:,} requests, concurrency {CONCURRENCY}, "
                f"server latency {LATENCY_MS} ms (median of {args.repeat})",
                ["ideal s", "median s", "min s", "max s"],
                [[f"{ideal:.2f}", f"{median(times):.2f}", f"{min(times):.2f}", f"{max(times):.2f}"]])


if __name__ == "__main__":
    main()
