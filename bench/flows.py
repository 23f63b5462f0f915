"""Flow benchmarks against the simulators: load time, outbound concurrency, inbound throughput.

Inbound runs in a fresh subprocess per size so each reports its own peak memory (ru_maxrss is a
high-water mark for the whole process); the simulator generates customers on the fly, so its own
memory does not grow with their number.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

import engine

ROOT = Path(__file__).resolve().parent.parent


FIRST_LOAD = """
import sys, time
import engine
start = time.perf_counter()
engine.load_spec(sys.argv[1])
print((time.perf_counter() - start) * 1000)
"""


def bench_load() -> list[dict[str, Any]]:
    """`ms`: best of 5 loads in one process (what a service loading specs again pays);
    `first_ms`: the first load in a fresh process, after the imports (no cache is warm yet)."""
    rows = []
    for spec in engine.find_specs([ROOT / "mappings"]):
        first = subprocess.run([sys.executable, "-c", FIRST_LOAD, str(spec)], cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            engine.load_spec(spec)
            best = min(best, time.perf_counter() - start)
        rows.append({"benchmark": f"load {spec.relative_to(ROOT)}", "ms": round(best * 1000, 1),
                     "first_ms": round(float(first), 1), "target": "< 50 ms"})
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "validate", str(ROOT / "mappings")], check=True,
                   capture_output=True)
    rows.append({"benchmark": "specbridge validate mappings/ (whole process)",
                 "ms": round((time.perf_counter() - start) * 1000), "target": "< 1000 ms"})
    return rows


SPECTER = """
import sys, time
from simulators.specter import SpecterSimulator
sim = SpecterSimulator("1234", "55", "bench-key", latency=float(sys.argv[1]))
with sim.serve() as server:
    print(server.url, flush=True)
    sys.stdin.readline()
    print(len(sim.customers), flush=True)
"""


@contextlib.contextmanager
def _specter_simulator(latency: float) -> Iterator[tuple[str, Callable[[], int]]]:
    """The Specter simulator in its own process (as a remote ERP would be), so its CPU is not
    ours; yields its URL and a function that stops it and returns how many customers it holds."""
    simulator = subprocess.Popen([sys.executable, "-c", SPECTER, str(latency)], cwd=ROOT, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    assert simulator.stdout is not None and simulator.stdin is not None
    stdin, stdout = simulator.stdin, simulator.stdout

    def stop() -> int:
        stdin.write("done\n")
        stdin.flush()
        created = int(stdout.readline().strip())
        simulator.wait(timeout=30)
        return created
    try:
        yield stdout.readline().strip(), stop
    finally:
        if simulator.poll() is None:
            simulator.kill()


def bench_outbound(n: int = 2000, latency: float = 0.05, concurrency: int = 50) -> dict[str, Any]:
    plan = engine.load_spec(ROOT / "mappings/specter/create-customer.yaml")
    with _specter_simulator(latency) as (url, stop), tempfile.TemporaryDirectory() as tmp:
        store = engine.open_store(f"sqlite:///{tmp}/bench.db")
        customers = [{"CustomerGuid": f"g-{i}", "CustomerCode": "", "CustomerName": f"Bench customer {i}",
                      "Email": f"c{i}@example.com", "ContactPersons": [{"FirstName": "A", "LastName": f"B{i}"}]}
                     for i in range(n)]
        store.import_document({"customers": customers})
        settings = {"BaseUrl": url, "SbmId": "1234", "ApiWriteUserId": "55", "ApiWriteUserKey": "bench-key",
                    "Concurrency": concurrency}
        start, cpu = time.perf_counter(), time.process_time()
        results = plan.run_many(customers, settings=settings, store=store)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        failures = [r for r in results if isinstance(r, Exception)]
        written = sum(1 for c in store.iter_customers() if c.get("CustomerCode"))
        store.close()
        created = stop()
    ideal = n * latency / concurrency
    return {"benchmark": f"outbound: {n} Specter pushes, {int(latency * 1000)} ms latency, concurrency {concurrency}",
            "seconds": round(elapsed, 2), "ideal_s": round(ideal, 2), "ratio": round(elapsed / ideal, 2),
            "cpu_ms_per_push": round(cpu / n * 1000, 2), "created": created, "written_back": written,
            "failures": len(failures), "target": "<= 1.25"}


def bench_http_floor(n: int = 2000, latency: float = 0.05, concurrency: int = 50) -> dict[str, Any]:
    """What the HTTP client alone reaches in the same conditions: the same number of form POSTs
    from as many threads to the same simulator, through one httpx client, with no engine at all.
    An outbound flow pays about this, plus its own work (mapping, journal, write-back)."""
    with _specter_simulator(latency) as (url, stop), httpx.Client(base_url=url) as client:
        def one(i: int) -> int:
            form = {"name": f"Bench customer {i}", "emailAddress": f"c{i}@example.com", "firstName": "A"}
            return client.post("/floor.asp", params={"sbmId": "1234", "key": f"{i:032x}"}, data=form).status_code
        start, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            statuses = list(pool.map(one, range(n)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        stop()
    ideal = n * latency / concurrency
    return {"benchmark": f"outbound floor: {n} bare httpx POSTs, same simulator, {concurrency} threads, no engine",
            "seconds": round(elapsed, 2), "ideal_s": round(ideal, 2), "ratio": round(elapsed / ideal, 2),
            "cpu_ms_per_request": round(cpu / n * 1000, 2), "answered": sum(1 for s in statuses if s == 404),
            "target": "(reference)"}


SIMULATOR = """
import sys
from simulators.snelstart import SnelStartSimulator, serve
with serve(SnelStartSimulator("ck", "sk", customers=int(sys.argv[1]), seed=3)) as server:
    print(server.base_url, server.token_url, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def _snelstart_simulator(n: int) -> Iterator[tuple[str, str, int]]:
    """The SnelStart simulator with n customers in a process of its own, as the real ERP would
    be: otherwise generating its answers would share our interpreter lock and count as our time.
    Yields its API and token URLs and its pid (to read its CPU time)."""
    server = subprocess.Popen([sys.executable, "-c", SIMULATOR, str(n)], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdin is not None
    try:
        base_url, token_url = server.stdout.readline().split()
        yield base_url, token_url, server.pid
        server.stdin.close()
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()


def inbound_child(n: int) -> dict[str, Any]:
    """Runs inside a fresh process: n simulated customers into a new SQLite store."""
    plan = engine.load_spec(ROOT / "mappings/snelstart/customer-sync.yaml")
    with _snelstart_simulator(n) as (base_url, token_url, pid), tempfile.TemporaryDirectory() as tmp:
        store = engine.open_store(f"sqlite:///{tmp}/inbound.db")
        settings = {"BaseUrl": base_url, "TokenUrl": token_url, "ClientKey": "ck", "SubscriptionKey": "sk",
                    "SyncInactiveCustomers": True, "CustomerTypesToSync": "Klant, Leverancier"}
        start, cpu, server_cpu = time.perf_counter(), time.process_time(), _cpu_seconds(pid)
        result = plan.run({}, settings=settings, store=store)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        server_cpu = _cpu_seconds(pid) - server_cpu
        saved = store.count_customers() if hasattr(store, "count_customers") else None
        store.close()
    counts = result.counts or {}
    peak_mb = _peak_rss_mb()
    fetched = counts.get("fetched") or 0
    return {"customers": n, "seconds": round(elapsed, 1), "per_second": round(fetched / elapsed),
            # What one customer costs each side in CPU: the simulator shares this machine's cores,
            # a real ERP would not; 1e6 / cpu_us is what our side alone could sustain on one core.
            "cpu_us_per_customer": round(cpu / max(1, fetched) * 1e6),
            "simulator_cpu_us_per_customer": round(server_cpu / max(1, fetched) * 1e6),
            "peak_mb": round(peak_mb), "fetched": counts.get("fetched"), "saved": saved,
            "rejected": counts.get("rejected")}


def inbound_floor_child(n: int) -> dict[str, Any]:
    """What the simulator alone delivers: every page of n customers read by a bare httpx client
    and decoded, nothing mapped or saved. An inbound flow against it on this machine cannot
    read faster than this."""
    with _snelstart_simulator(n) as (base_url, token_url, pid), \
            httpx.Client(headers={"Ocp-Apim-Subscription-Key": "sk"}, timeout=60) as client:
        token = client.post(token_url, data={"grant_type": "clientkey", "clientkey": "ck"}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        start, cpu, server_cpu = time.perf_counter(), time.process_time(), _cpu_seconds(pid)
        read, skip = 0, 0
        while True:
            page = client.get(f"{base_url}/relaties", params={"$skip": str(skip), "$top": "500"}).json()
            if not page:
                break
            read += len(page)
            skip += 500
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        server_cpu = _cpu_seconds(pid) - server_cpu
    return {"customers": read, "seconds": round(elapsed, 1), "per_second": round(read / elapsed),
            "cpu_us_per_customer": round(cpu / max(1, read) * 1e6),
            "simulator_cpu_us_per_customer": round(server_cpu / max(1, read) * 1e6)}


def bench_inbound_floor(n: int) -> dict[str, Any]:
    return {"benchmark": f"inbound floor: {n:,} customers read and decoded by bare httpx, nothing saved",
            **_in_child("inbound-floor", n), "target": "(reference)"}


def _in_child(kind: str, n: int) -> dict[str, Any]:
    """The row a fresh `python -m bench.flows KIND N` prints: a process of its own, so its peak
    memory is its own."""
    out = subprocess.run([sys.executable, "-m", "bench.flows", kind, str(n)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def _peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the program image, while
    ru_maxrss survives exec: a child started by a parent holding 600 MB reported 600 MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (Linux /proc; 0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_inbound(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    return [{"benchmark": f"inbound: {n:,} SnelStart customers into SQLite", **_in_child("inbound", n),
             "target": ">= 20,000/s, flat memory"} for n in sizes]


if __name__ == "__main__":
    if sys.argv[1] == "inbound":
        print(json.dumps(inbound_child(int(sys.argv[2]))))
    elif sys.argv[1] == "inbound-floor":
        print(json.dumps(inbound_floor_child(int(sys.argv[2]))))
