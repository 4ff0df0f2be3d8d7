"""Load test of the web app over HTTP: `python -m benchmarks.app [--weights DIR]`.

Starts the app (app.build_demo) in a subprocess on a free localhost port, then drives it
with gradio_client, as API users would:

1. 1 client x --requests requests, then --clients concurrent clients x --requests each;
   the requests alternate /generate and a 10x10 /grid, and one /reload is sent when half
   of the concurrent phase is done. Every request must succeed.
2. --grid-calls single 10x10 /grid requests, one after another.

Prints p50/p95 latency (as the client sees it) and requests/s, and the generator's share
of the time, measured inside the server (gan.serving.stats.ServingStats): generator calls vs the
summed client latencies, vs the server's handler time, and vs wall time. Writes the same
figures to benchmarks/results/app.json. The weights are copied to a temp folder first, so
a training run writing weights/ meanwhile cannot change what is measured.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .common import machine_info, percentile, print_table, write_results

GRID = (10, 10, 0, "one digit per row (0-9)", 0, 1.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- the server process

def serve(weights: str, port: int, threads: int, concurrency: int, max_queue: int, conn) -> None:
    """Runs in the subprocess: the app plus a command loop on `conn` for server-side stats."""
    try:
        from gan.runtime import configure_cpu_threads

        threads = configure_cpu_threads(threads)
        import app

        service = app.make_service(weights, auto_reload_s=None)
        demo = app.build_demo(service, concurrency_limit=concurrency or None, max_queue=max_queue)
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        conn.send(("ready", {"url": demo.local_url, "threads": threads,
                             "concurrency": demo._queue.default_concurrency_limit,
                             "fingerprint": service.holder.current().fingerprint}))
    except BaseException:  # noqa: BLE001 - reported to the parent
        conn.send(("failed", traceback.format_exc()))
        return
    while True:
        command = conn.recv()
        if command == "reset":
            service.stats.reset()
            conn.send("ok")
        elif command == "stats":
            conn.send({"stats": service.stats.snapshot(), "reloads": service.holder.reloads})
        else:
            demo.close()
            conn.send("closed")
            return


class Server:
    def __init__(self, weights: Path, *, threads: int, concurrency: int, max_queue: int):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, daemon=True,
                                   args=(str(weights), free_port(), threads, concurrency,
                                         max_queue, child))
        self.process.start()
        if not self.conn.poll(180):
            self.process.kill()
            raise RuntimeError("the app did not start within 180 s")
        status, info = self.conn.recv()
        if status != "ready":
            raise RuntimeError(f"the app failed to start:\n{info}")
        self.info = info
        self.url = info["url"]

    def ask(self, command: str):
        self.conn.send(command)
        return self.conn.recv()

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self.ask("close")
            except (EOFError, OSError):
                pass
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


# ----------------------------------------------------------------------------- the clients

def request_for(client_id: int, i: int) -> tuple[str, tuple]:
    if (client_id + i) % 2 == 0:
        return "/generate", ((client_id + i) % 10, client_id * 100_000 + i, 1.0)
    return "/grid", GRID[:2] + (client_id * 100_000 + i,) + GRID[3:]


def run_phase(server: Server, clients: int, requests: int, downloads: Path, *,
              reload_midway: bool) -> dict:
    from gradio_client import Client

    pool = [Client(server.url, verbose=False, download_files=str(downloads / f"c{i}"))
            for i in range(clients)]
    total = clients * requests
    done, lock = [0], threading.Lock()
    halfway = threading.Event()
    records: list[tuple[str, float]] = []
    errors: list[str] = []

    def worker(client_id: int) -> None:
        client = pool[client_id]
        for i in range(requests):
            api_name, args = request_for(client_id, i)
            start = time.perf_counter()
            try:
                client.predict(*args, api_name=api_name)
                ok = True
            except Exception as exc:  # noqa: BLE001 - counted and reported
                ok = False
                errors.append(f"{api_name}{args}: {type(exc).__name__}: {exc}")
            latency = time.perf_counter() - start
            with lock:
                if ok:
                    records.append((api_name, latency))
                done[0] += 1
                if done[0] >= total // 2:
                    halfway.set()

    reload_result = {}

    def reloader() -> None:
        halfway.wait()
        start = time.perf_counter()
        try:
            reload_result["message"] = pool[0].predict(api_name="/reload")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"/reload: {type(exc).__name__}: {exc}")
        reload_result["latency_ms"] = (time.perf_counter() - start) * 1000

    server.ask("reset")
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients + 1) as executor:
        futures = [executor.submit(worker, c) for c in range(clients)]
        if reload_midway:
            futures.append(executor.submit(reloader))
        for f in futures:
            f.result()
    wall = time.perf_counter() - start
    server_side = server.ask("stats")
    return summarize_phase(clients, requests, records, errors, wall, server_side, reload_result)


def summarize_phase(clients, requests, records, errors, wall, server_side, reload_result) -> dict:
    stats = server_side["stats"]
    latencies = [s * 1000 for _, s in records]
    by_endpoint = {}
    for name in ("/generate", "/grid"):
        values = [s * 1000 for n, s in records if n == name]
        if values:
            by_endpoint[name] = {"p50_ms": statistics.median(values), "p95_ms": percentile(values, 95),
                                 "count": len(values)}
    model_s = sum(v["total_s"] for k, v in stats.items() if k.endswith(".model"))
    handler_s = sum(v["total_s"] for k, v in stats.items() if k.endswith(".handler"))
    encode_s = sum(v["total_s"] for k, v in stats.items() if k.endswith(".encode"))
    return {
        "clients": clients, "requests_per_client": requests, "requests": len(records) + len(errors),
        "errors": len(errors), "error_samples": errors[:10], "wall_s": wall,
        "requests_per_s": len(records) / wall if wall else 0.0,
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p95_ms": percentile(latencies, 95) if latencies else None,
        "by_endpoint": by_endpoint,
        "server": {"model_s": model_s, "encode_s": encode_s, "handler_s": handler_s,
                   "stages": stats, "reloads": server_side["reloads"]},
        "model_share_of_latency": model_s / (sum(latencies) / 1000) if latencies else None,
        "model_share_of_handler": model_s / handler_s if handler_s else None,
        "model_share_of_wall": model_s / wall if wall else None,
        "reload": reload_result or None,
    }


def raw_http_grid(http, base: str, seed: int) -> bytes:
    """One 10x10 /grid over plain HTTP (POST the call, read its event stream, GET the PNG):
    the API without gradio_client, whose job threads poll for messages every 50 ms."""
    event = http.post(f"{base}/gradio_api/call/grid",
                      json={"data": [*GRID[:2], seed, *GRID[3:]]}).json()["event_id"]
    stream = http.get(f"{base}/gradio_api/call/grid/{event}").text
    if "event: complete" not in stream:
        raise RuntimeError(f"/grid failed: {stream[-300:]}")
    data = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
    response = http.get(data[0]["url"])
    response.raise_for_status()
    return response.content


def run_grid_series(server: Server, calls: int, downloads: Path) -> dict:
    import httpx
    from gradio_client import Client

    client = Client(server.url, verbose=False, download_files=str(downloads / "grid"))
    base = server.url.rstrip("/")
    with httpx.Client(timeout=60) as http:
        for i in range(3):  # warm-up
            client.predict(*GRID[:2], 10_000 + i, *GRID[3:], api_name="/grid")
            raw_http_grid(http, base, 20_000 + i)
        server.ask("reset")
        via_client, via_http = [], []
        for i in range(calls):  # interleaved, so both see the same machine load
            start = time.perf_counter()
            client.predict(*GRID[:2], i, *GRID[3:], api_name="/grid")
            via_client.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            png = raw_http_grid(http, base, 30_000 + i)
            via_http.append((time.perf_counter() - start) * 1000)
            assert png.startswith(b"\x89PNG")
    stats = server.ask("stats")["stats"]
    return {"calls": calls,
            "api_p50_ms": statistics.median(via_http), "api_p95_ms": percentile(via_http, 95),
            "gradio_client_p50_ms": statistics.median(via_client),
            "gradio_client_p95_ms": percentile(via_client, 95),
            "model_p50_ms": stats["grid.model"]["p50_ms"],
            "encode_p50_ms": stats["grid.encode"]["p50_ms"],
            "write_p50_ms": stats["grid.write"]["p50_ms"],
            "handler_p50_ms": stats["grid.handler"]["p50_ms"]}


# ----------------------------------------------------------------------------- main

def prepare_weights(source: str | None, folder: Path) -> str:
    from gan.model.weights import CONFIG_FILE, WEIGHTS_FILE, WeightsError, load_generator

    source_path = Path(source) if source else Path("weights")
    if (source_path / CONFIG_FILE).is_file() and (source_path / WEIGHTS_FILE).is_file():
        for name in (CONFIG_FILE, WEIGHTS_FILE, "training.json", "metrics.json"):
            if (source_path / name).is_file():
                shutil.copy2(source_path / name, folder / name)
        try:
            load_generator(folder)
            return f"trained weights copied from {source_path}"
        except WeightsError as exc:
            if source:
                raise SystemExit(f"error: {exc}")
            print(f"({source_path} is not loadable: {exc})")
    elif source:
        raise SystemExit(f"error: no {CONFIG_FILE} + {WEIGHTS_FILE} in {source_path}")
    import torch

    from gan import Generator, ModelConfig, save_generator

    with torch.random.fork_rng(devices=[]):
        save_generator(Generator(ModelConfig()), folder)
    return "an untrained generator (default config; same cost per image as a trained one)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None,
                        help="weights folder (default: weights/ if loadable, else an untrained generator)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
    parser.add_argument("--requests", type=int, default=50, help="requests per client (default: 50)")
    parser.add_argument("--grid-calls", type=int, default=30, help="sequential 10x10 grids (default: 30)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the server (default: 1, as app.py)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="requests the server runs at once; 0 = one per core (default, as app.py)")
    args = parser.parse_args(argv)
    for name in ("clients", "requests", "grid_calls"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name.replace('_', '-')} must be in 1..1000")

    with tempfile.TemporaryDirectory(prefix="digitgan-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "weights").mkdir()
        what = prepare_weights(args.weights, tmp / "weights")
        load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
        print(f"serving {what}; starting the app ...", flush=True)
        server = Server(tmp / "weights", threads=args.threads, concurrency=args.concurrency,
                        max_queue=max(64, 2 * args.clients))
        try:
            print(f"app at {server.url}: weights {server.info['fingerprint']}, "
                  f"{server.info['concurrency']} requests at a time, {server.info['threads']} torch "
                  f"thread(s) each; load average before: {load_before}", flush=True)
            run_phase(server, 1, 4, tmp, reload_midway=False)  # warm-up
            phases = {}
            for clients in (1, args.clients):
                print(f"{clients} client(s) x {args.requests} requests ...", flush=True)
                phases[str(clients)] = run_phase(server, clients, args.requests, tmp,
                                                 reload_midway=clients > 1)
            print(f"{args.grid_calls} sequential 10x10 grids ...", flush=True)
            grid = run_grid_series(server, args.grid_calls, tmp)
        finally:
            server.close()

    import gradio

    results = {"machine": machine_info(), "gradio": gradio.__version__, "weights": what,
               "fingerprint": server.info["fingerprint"], "server_threads": server.info["threads"],
               "server_concurrency": server.info["concurrency"], "load_average_before": load_before,
               "phases": phases, "grid_10x10": grid}
    print()
    rows = []
    for phase in phases.values():
        rows.append([phase["clients"], phase["requests"], phase["errors"], phase["p50_ms"],
                     phase["p95_ms"], phase["by_endpoint"].get("/generate", {}).get("p50_ms", 0.0),
                     phase["by_endpoint"].get("/grid", {}).get("p50_ms", 0.0), phase["requests_per_s"],
                     f"{phase['model_share_of_latency']:.0%}", f"{phase['model_share_of_handler']:.0%}",
                     f"{phase['model_share_of_wall']:.0%}"])
    print_table(["clients", "requests", "errors", "p50 ms", "p95 ms", "generate p50", "grid p50",
                 "req/s", "model/latency", "model/handler", "model/wall"], rows)
    reload = phases[str(args.clients)]["reload"]
    if reload:
        print(f"/reload during the {args.clients}-client run: {reload.get('latency_ms', 0):.0f} ms, "
              f"{reload.get('message', 'FAILED')}")
    print(f"\n10x10 grid, one request at a time ({grid['calls']} calls each way), medians:\n"
          f"  in the server:  model {grid['model_p50_ms']:.1f} ms, PNG encode {grid['encode_p50_ms']:.1f} ms, "
          f"file write {grid['write_p50_ms']:.1f} ms, whole handler {grid['handler_p50_ms']:.1f} ms\n"
          f"  plain HTTP API: {grid['api_p50_ms']:.1f} ms (p95 {grid['api_p95_ms']:.1f}), call + "
          f"event stream + PNG download\n"
          f"  gradio_client:  {grid['gradio_client_p50_ms']:.1f} ms (p95 {grid['gradio_client_p95_ms']:.1f})")
    print(f"\nwrote {write_results('app', results)}")
    failed = sum(p["errors"] for p in phases.values())
    if failed:
        print(f"\n{failed} requests FAILED, e.g.:", *phases[str(args.clients)]["error_samples"][:5],
              sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
