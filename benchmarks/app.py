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
        # Gradio's own per-request phase timings (queue wait, preprocess, the handler,
        # postprocess), read back by the grid series; must be set before gradio is imported
        os.environ["GRADIO_PROFILING"] = "1"
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
            from gradio.profiling import collector

            service.stats.reset()
            collector.clear()
            conn.send("ok")
        elif command == "stats":
            conn.send({"stats": service.stats.snapshot(), "reloads": service.holder.reloads})
        elif command == "traces":  # Gradio's phase timings of every call since the last reset
            from gradio.profiling import collector

            conn.send(collector.get_all())
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
    for client in pool:  # their heartbeat streams would stay open on the server
        client.close()
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


def raw_http_grid(http, base: str, seed: int) -> tuple[bytes, dict[str, float]]:
    """One 10x10 /grid over plain HTTP (POST the call, read its event stream, GET the PNG):
    the API without gradio_client, whose job threads poll for messages every 50 ms. Returns
    the PNG and the milliseconds of each of the three steps."""
    start = time.perf_counter()
    event = http.post(f"{base}/gradio_api/call/grid",
                      json={"data": [*GRID[:2], seed, *GRID[3:]]}).json()["event_id"]
    posted = time.perf_counter()
    stream = http.get(f"{base}/gradio_api/call/grid/{event}").text
    streamed = time.perf_counter()
    if "event: complete" not in stream:
        raise RuntimeError(f"/grid failed: {stream[-300:]}")
    data = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
    response = http.get(data[0]["url"])
    response.raise_for_status()
    done = time.perf_counter()
    return response.content, {"total": (done - start) * 1000, "call": (posted - start) * 1000,
                              "stream": (streamed - posted) * 1000, "download": (done - streamed) * 1000}


GRADIO_PHASES = ("queue_wait", "preprocess", "fn_call", "postprocess", "total",
                 "postprocess_move_to_cache", "save_file_to_cache", "postprocess_update_state_in_config")


def median_of(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def grid_trace(server: Server, wait_s: float = 2.0) -> dict:
    """Gradio's trace of the one /grid call since the last reset (Gradio files it just after
    the call's last message, so it may take a moment to appear)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [t for t in server.ask("traces") if t.get("fn_name") == "grid"]
        if found or time.monotonic() > deadline:
            if len(found) != 1:
                raise RuntimeError(f"expected the trace of one /grid call, got {len(found)}")
            return found[0]
        time.sleep(0.01)


def run_grid_series(server: Server, calls: int, downloads: Path) -> dict:
    """`calls` single 10x10 grids each way, interleaved so both see the same machine load, and
    where the plain-HTTP time goes: the call, the event stream (Gradio's queue, preprocess,
    our handler, postprocess, and the stream's own delivery) and the PNG download."""
    import httpx
    from gradio_client import Client

    client = Client(server.url, verbose=False, download_files=str(downloads / "grid"))
    base = server.url.rstrip("/")
    with httpx.Client(timeout=60) as http:
        for i in range(3):  # warm-up
            client.predict(*GRID[:2], 10_000 + i, *GRID[3:], api_name="/grid")
            raw_http_grid(http, base, 20_000 + i)
        via_client, via_http, traces = [], [], []
        png_bytes = 0
        for i in range(calls):
            start = time.perf_counter()
            client.predict(*GRID[:2], i, *GRID[3:], api_name="/grid")
            via_client.append((time.perf_counter() - start) * 1000)
            server.ask("reset")  # the stats and the Gradio trace of the plain-HTTP call alone
            png, steps = raw_http_grid(http, base, 30_000 + i)
            assert png.startswith(b"\x89PNG")
            png_bytes = len(png)
            via_http.append(steps)
            traces.append(grid_trace(server))
            stats = server.ask("stats")["stats"]
            steps.update({name: stats[f"grid.{name}"]["p50_ms"] for name in ("model", "encode", "write", "handler")})
    client.close()
    split = {name: median_of(via_http, name) for name in via_http[0]}
    gradio = {name: median_of(traces, f"{name}_ms") for name in GRADIO_PHASES}
    # what the event stream takes beyond Gradio's run of the event: the queue's hand-offs and
    # the stream's own messages (per call, then the median)
    delivery = [h["stream"] - t["queue_wait_ms"] - t["total_ms"] for h, t in zip(via_http, traces)]
    return {"calls": calls, "png_bytes": png_bytes,
            "api_p50_ms": split["total"], "api_p95_ms": percentile([h["total"] for h in via_http], 95),
            "gradio_client_p50_ms": statistics.median(via_client),
            "gradio_client_p95_ms": percentile(via_client, 95),
            "http_split_ms": split, "gradio_phases_ms": gradio,
            "stream_delivery_ms": statistics.median(delivery),
            "model_p50_ms": split["model"], "encode_p50_ms": split["encode"],
            "write_p50_ms": split["write"], "handler_p50_ms": split["handler"]}


def print_grid_split(grid: dict) -> None:
    split, phases = grid["http_split_ms"], grid["gradio_phases_ms"]
    rest = split["handler"] - split["model"] - split["encode"] - split["write"]
    lines = [f"10x10 grid, one request at a time ({grid['calls']} calls each way), medians of each part "
             "(medians do not add up exactly):",
             f"  plain HTTP API: {split['total']:.1f} ms (p95 {grid['api_p95_ms']:.1f})",
             f"    POST /call/grid             {split['call']:6.1f} ms",
             f"    event stream                {split['stream']:6.1f} ms"]
    lines += [f"      Gradio queue wait         {phases['queue_wait']:6.1f} ms",
              f"      Gradio preprocess         {phases['preprocess']:6.1f} ms",
              f"      the handler               {phases['fn_call']:6.1f} ms   (ours: model {split['model']:.1f}, "
              f"PNG encode {split['encode']:.1f}, file write {split['write']:.1f}, checks and the "
              f"rest {rest:.1f})",
              f"      Gradio postprocess        {phases['postprocess']:6.1f} ms   (file cache "
              f"{phases['postprocess_move_to_cache']:.1f}, session state "
              f"{phases['postprocess_update_state_in_config']:.1f})",
              f"      stream delivery           {grid['stream_delivery_ms']:6.1f} ms   (the stream "
              "beyond the queue wait and Gradio's run)"]
    lines += [f"    PNG download ({grid['png_bytes'] / 1000:.0f} kB)        {split['download']:6.1f} ms",
              f"  gradio_client:  {grid['gradio_client_p50_ms']:.1f} ms (p95 {grid['gradio_client_p95_ms']:.1f})"]
    print("\n".join(lines))


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
    parser.add_argument("--grid-only", action="store_true",
                        help="only the sequential 10x10 grids and where their time goes (no load phases)")
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
            for clients in () if args.grid_only else (1, args.clients):
                print(f"{clients} client(s) x {args.requests} requests ...", flush=True)
                phases[str(clients)] = run_phase(server, clients, args.requests, tmp,
                                                 reload_midway=clients > 1)
            print(f"{args.grid_calls} sequential 10x10 grids ...", flush=True)
            grid = run_grid_series(server, args.grid_calls, tmp)
            grid["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        finally:
            server.close()

    import gradio

    results = {"machine": machine_info(), "gradio": gradio.__version__, "weights": what,
               "fingerprint": server.info["fingerprint"], "server_threads": server.info["threads"],
               "server_concurrency": server.info["concurrency"], "load_average_before": load_before,
               "phases": phases, "grid_10x10": grid}
    rows = []
    for phase in phases.values():
        rows.append([phase["clients"], phase["requests"], phase["errors"], phase["p50_ms"],
                     phase["p95_ms"], phase["by_endpoint"].get("/generate", {}).get("p50_ms", 0.0),
                     phase["by_endpoint"].get("/grid", {}).get("p50_ms", 0.0), phase["requests_per_s"],
                     f"{phase['model_share_of_latency']:.0%}", f"{phase['model_share_of_handler']:.0%}",
                     f"{phase['model_share_of_wall']:.0%}"])
    if rows:
        print()
        print_table(["clients", "requests", "errors", "p50 ms", "p95 ms", "generate p50", "grid p50",
                     "req/s", "model/latency", "model/handler", "model/wall"], rows)
    reload = phases.get(str(args.clients), {}).get("reload")
    if reload:
        print(f"/reload during the {args.clients}-client run: {reload.get('latency_ms', 0):.0f} ms, "
              f"{reload.get('message', 'FAILED')}")
    print(f"\nload average before {load_before}, after the grids {grid['load_average_after']}")
    print_grid_split(grid)
    print(f"\nwrote {write_results('app', results)}")
    failed = sum(p["errors"] for p in phases.values())
    if failed:
        print(f"\n{failed} requests FAILED, e.g.:", *phases[str(args.clients)]["error_samples"][:5],
              sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
