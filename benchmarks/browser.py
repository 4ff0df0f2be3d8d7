"""The static Space in headless Chromium: `python -m benchmarks.browser [--weights DIR] [--site DIR]`.

Exports the site (python -m gan.space ... --kind static; the Draw tab gets the tests' stand-in
encoder when the weights have none), serves it from loopback like `python -m http.server`, and
measures in Debian's Chromium through Playwright:

- ready: navigation to the first digit on screen, in a fresh browser context (nothing cached)
- one digit, a 10x10 grid (with the achieved GFLOP/s), a slider move on Explore to new pixels
  on the canvas, and Draw (preprocessing + classifier + encoder + the ten digits + the morph)
- what the page downloads, plain and gzipped

With --throttle 20 5 (Mbit/s; --latency-ms, default 40) also the first seconds on a slow
connection, through Chromium's network emulation (Network.emulateNetworkConditions), served
without compression: time to the first thing drawn (the pre-rendered digit), to DigitGAN.ready,
and the bytes transferred before ready, both from the plain server (one wasm thread) and from a
loopback server that sends the Space's COOP/COEP headers (cross-origin isolated: two threads).
--compare-threads measures one digit, a 10x10 grid and Draw on that server too.

and, from the same run, the Gradio app's /generate and /grid round trips over plain HTTP
(benchmarks/app.py's server). Prints figures and writes benchmarks/results/browser.json;
nothing is asserted.
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from gan.space.static_site import ISOLATION_HEADERS

from .app import GRID, Server, prepare_weights, raw_http_grid
from .common import machine_info, percentile, write_results

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SEVEN = [(70, 60), (210, 60), (120, 235)]


FIRST_SECONDS = """() => new Promise((resolve) => {
  const ready = DigitGAN.readyAt, path = (e) => new URL(e.name).pathname;
  const nav = performance.getEntriesByType('navigation')[0];
  const done = performance.getEntriesByType('resource').filter((e) => e.responseEnd <= ready);
  const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null;
  const canvas = Number(document.getElementById('gen-image').dataset.paintedAt || Infinity);
  const finish = (element) => resolve({ready, fcp, preview: element, first_drawn: Math.min(element ?? Infinity, canvas),
    bytes: [nav, ...done].reduce((sum, e) => sum + e.transferSize, 0), files: done.map(path),
    threads: DigitGAN.info.threads});
  let seen = null;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.identifier === 'first-digit') seen = e.renderTime || e.loadTime;
  }).observe({type: 'element', buffered: true});
  setTimeout(() => finish(seen), 100);
})"""


def measure_first_seconds(browser, url: str, mbps: float, latency_ms: float, repeats: int) -> dict:
    """Fresh contexts on a throttled network: navigation -> the first thing drawn (the
    pre-rendered digit, else the engine's canvas), -> DigitGAN.ready, the bytes before ready."""
    runs = []
    for _ in range(repeats):
        context = browser.new_context()
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        rate = mbps * 1e6 / 8
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": latency_ms,
                                                      "downloadThroughput": rate, "uploadThroughput": rate})
        page.goto(url, wait_until="commit")
        page.wait_for_function("document.body && (document.body.dataset.ready || document.body.dataset.failed)",
                               timeout=180_000)
        runs.append(page.evaluate(FIRST_SECONDS))
        context.close()
    pick = lambda key: [r[key] for r in runs if r[key] is not None]  # noqa: E731
    return {"mbps": mbps, "latency_ms": latency_ms, "threads": runs[0]["threads"],
            "first_drawn": stats(pick("first_drawn")), "ready": stats(pick("ready")),
            "first_contentful_paint": stats(pick("fcp")) if pick("fcp") else None,
            "bytes_before_ready": statistics.median(pick("bytes")), "files_before_ready": runs[0]["files"]}


def flops_per_digit(config: dict) -> int:
    """Multiply-adds x 2 of one generator pass (embedding, linear, two transposed convs)."""
    z, e, w, k = config["z_dim"], config["embed_dim"], config["g_width"], config["num_classes"]
    return 2 * (k * e + (z + e) * 2 * w * 49 + 2 * w * w * 16 * 49 + w * 16 * 196)


def stats(values: list[float]) -> dict:
    return {"median_ms": statistics.median(values), "p95_ms": percentile(values, 95), "min_ms": min(values),
            "runs": len(values)}


def _test_helpers():
    """tests/support/static_site.py: the loopback server and the stand-in encoder, shared."""
    from tests.support import static_site

    return static_site


def export_site(weights: str | None, folder: Path) -> tuple[Path, str]:
    from gan.space.static_site import build_static_site

    standin_encoder_onnx = _test_helpers().standin_encoder_onnx

    source = Path(weights or "weights")
    copy = folder / "weights"
    shutil.copytree(source, copy)
    note = "the weights' own encoder"
    if not (copy / "encoder.onnx").exists() and not (copy / "encoder.safetensors").exists():
        standin_encoder_onnx(copy / "encoder.onnx")
        note = "a stand-in encoder (tests/support/static_site.py), no trained one yet"
    site = build_static_site(folder / "site", copy)
    return site.folder, note


def measure_page(browser, url: str, repeats: int) -> dict:
    ready, fetched = [], []
    for i in range(repeats):
        context = browser.new_context()
        page = context.new_page()
        if i == 0:
            page.on("requestfinished", lambda request: fetched.append(request.url))
        page.goto(url)
        page.wait_for_function("document.body.dataset.ready || document.body.dataset.failed", timeout=60_000)
        ready.append(page.evaluate("window.DigitGAN.readyAt"))
        if i < repeats - 1:
            context.close()
    downloaded = sorted(set(fetched))
    timings = page.evaluate("""async (repeats) => {
      const time = async (fn, n) => {
        for (let i = 0; i < 3; i++) await fn();
        const out = [];
        for (let i = 0; i < n; i++) { const t = performance.now(); await fn(); out.push(performance.now() - t); }
        return out;
      };
      const digits = [...Array(100).keys()].map((i) => Math.floor(i / 10));
      const seeds = [...Array(100).keys()].map((i) => i % 10);
      let s = 0;
      const one = await time(() => DigitGAN.generate([3], [s++ % 1000]), 5 * repeats);
      const grid = await time(() => DigitGAN.generate(digits, seeds.map((x) => x + s++)), 2 * repeats);
      return {one, grid}; }""", repeats)
    page.click("button[data-tab=explore]")
    page.wait_for_function("Number(document.getElementById('explore-row').dataset.paints || 0) > 0")
    slider = page.evaluate("""async (repeats) => { const out = [];
      const input = document.querySelector('#explore-sliders input'), canvas = document.getElementById('explore-image');
      for (let i = 0; i < 2 * repeats; i++) {
        const before = Number(canvas.dataset.paints);
        const t = performance.now();
        input.value = String(((i % 50) - 25) / 10); input.dispatchEvent(new Event('input'));
        while (Number(canvas.dataset.paints) === before) await new Promise((r) => setTimeout(r, 0));
        out.push(Number(canvas.dataset.paintedAt) - t);
        await new Promise((r) => setTimeout(r, 60));   // let the 0-9 row finish, as a pause in a drag does
      }
      return out; }""", repeats)
    page.click("button[data-tab=draw]")
    box = page.locator("#draw-canvas").bounding_box()
    page.mouse.move(box["x"] + SEVEN[0][0] * box["width"] / 280, box["y"] + SEVEN[0][1] * box["height"] / 280)
    page.mouse.down()
    for x, y in SEVEN[1:]:
        page.mouse.move(box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280, steps=10)
    page.mouse.up()
    page.wait_for_function("Number(document.getElementById('draw-strip').dataset.paints || 0) > 0", timeout=60_000)
    draw = page.evaluate("""async (repeats) => { const out = [];
      const strip = document.getElementById('draw-strip'), find = document.getElementById('draw-find');
      for (let i = 0; i < repeats; i++) {
        const before = Number(strip.dataset.paints); const t = performance.now(); find.click();
        while (Number(strip.dataset.paints) === before) await new Promise((r) => setTimeout(r, 0));
        out.push(Number(strip.dataset.paintedAt) - t);
      }
      return out; }""", repeats)
    info = page.evaluate("window.DigitGAN.info")
    context.close()
    return {"ready": ready, "downloaded": downloaded, "info": info, **timings, "slider": slider, "draw": draw}


def gzipped(site: Path, files: list[Path]) -> int:
    return sum(len(gzip.compress(p.read_bytes(), 6)) for p in files)


def app_round_trips(weights: str | None, calls: int) -> dict:
    import httpx

    with tempfile.TemporaryDirectory(prefix="digitgan-bench-") as tmp:
        folder = Path(tmp) / "weights"
        folder.mkdir()
        prepare_weights(weights, folder)
        server = Server(folder, threads=1, concurrency=0, max_queue=64)
        try:
            base = server.url.rstrip("/")
            generate, grid = [], []
            with httpx.Client(timeout=60) as http:
                for i in range(calls + 3):
                    start = time.perf_counter()
                    event = http.post(f"{base}/gradio_api/call/generate",
                                      json={"data": [i % 10, i, 1.0]}).json()["event_id"]
                    stream = http.get(f"{base}/gradio_api/call/generate/{event}").text
                    complete = stream.split("event: complete", 1)[1].split("data:", 1)[1]
                    data = json.loads(complete.strip().splitlines()[0])
                    assert http.get(data[0]["url"]).content.startswith(b"\x89PNG")
                    elapsed = (time.perf_counter() - start) * 1000
                    start = time.perf_counter()
                    raw_http_grid(http, base, 50_000 + i)
                    if i >= 3:  # after warm-up
                        generate.append(elapsed)
                        grid.append((time.perf_counter() - start) * 1000)
        finally:
            server.close()
    return {"generate": stats(generate), "grid_10x10": stats(grid), "grid_request": list(GRID)}


SEED_BANK = 1000  # the page's Draw against the best of the first 1,000 seeds of the digit


def draw_quality(browser, url: str, weights: str | None, data_dir: str | None, count: int,
                 first: int = 0) -> dict:
    """The page's Draw on MNIST test digits first..first+count-1, each searched as its label
    (as benchmarks.inversion does): mean RMS pixel distance of the generator's redrawing of the
    page's latent, how often the classifier reads the latent's 0-9 as asked, and that RMS over
    the best of the first SEED_BANK seeds' RMS for the same digit (per digit, then mean and
    median)."""
    import torch

    from gan.data import load_mnist
    from gan.model.classifier import classifier_outputs, load_classifier
    from gan.model.sampling import generate_from_latents
    from gan.model.weights import load_generator

    images, labels = load_mnist("test", data_dir=data_dir, download=False)
    images, labels = images[first:first + count], labels[first:first + count]
    page = browser.new_page()
    page.goto(url)
    page.evaluate("() => DigitGAN.ready")
    latents, start = [], time.perf_counter()
    for image, label in zip(images, labels):
        latents.append(page.evaluate(
            "async ([pixels, digit]) => Array.from((await DigitGAN.invert(pixels, {digit})).latent)",
            [image.flatten().tolist(), int(label)]))
    seconds = time.perf_counter() - start
    page.close()
    generator, classifier = load_generator(weights or "weights"), load_classifier()
    z = torch.tensor(latents, dtype=torch.float32)
    redrawn = generate_from_latents(generator, z, labels.tolist())
    rms = ((redrawn.float() - images.float()) / 255).pow(2).mean(dim=(1, 2)).sqrt()
    rows = torch.cat([generate_from_latents(generator, zi, range(10)) for zi in z])
    read = classifier_outputs(classifier, rows)[1]
    bank = {digit: generator.generate([digit] * SEED_BANK, range(SEED_BANK)).float()
            for digit in sorted(set(labels.tolist()))}
    best = torch.stack([((bank[int(label)] - image.float()) / 255).pow(2).mean(dim=(1, 2)).sqrt().min()
                        for image, label in zip(images, labels)])
    ratio = rms / best
    return {"first": first, "digits": count, "mean_pixel_rms": float(rms.mean()),
            "best_seed_rms": float(best.mean()), "mean_ratio_to_best_seed": float(ratio.mean()),
            "median_ratio_to_best_seed": float(ratio.median()),
            "restyle_accuracy": float((read == torch.arange(10).repeat(count)).double().mean()),
            "ms_per_digit": 1000 * seconds / count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.browser", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="weights folder (default: weights)")
    parser.add_argument("--repeats", type=int, default=10, help="runs of each browser measurement (default: 10)")
    parser.add_argument("--app-calls", type=int, default=15, help="app round trips per endpoint; 0 = skip the app")
    parser.add_argument("--draw-digits", type=int, default=0,
                        help="also measure the page's Draw on this many MNIST test digits (needs the IDX files: "
                             "--data-dir or $DIGITGAN_DATA_DIR); 0 = skip")
    parser.add_argument("--draw-first", type=int, default=0,
                        help="the first MNIST test digit --draw-digits takes (default: 0; the search was tuned "
                             "on 0-999, so e.g. 9000 measures digits it never saw)")
    parser.add_argument("--data-dir", default=None, help="MNIST IDX folder for --draw-digits")
    parser.add_argument("--throttle", type=float, nargs="*", default=[], metavar="MBPS",
                        help="also measure the first seconds at these Mbit/s (e.g. 20 5), plain and isolated")
    parser.add_argument("--latency-ms", type=float, default=40, help="latency with --throttle (default: 40)")
    parser.add_argument("--load-repeats", type=int, default=3, help="throttled loads per speed and server (default: 3)")
    parser.add_argument("--compare-threads", action="store_true",
                        help="also measure digit, grid and Draw served with COOP/COEP (two wasm threads)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    serving = _test_helpers().serving

    with tempfile.TemporaryDirectory(prefix="digitgan-site-") as tmp:
        print("exporting the static site ...", flush=True)
        site, encoder_note = export_site(args.weights, Path(tmp))
        all_files = [p for p in site.rglob("*") if p.is_file()]
        with serving(site) as url, serving(site, headers=ISOLATION_HEADERS) as isolated, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"measuring {url} in headless Chromium {browser.version} ...", flush=True)
            first = [measure_first_seconds(browser, where, mbps, args.latency_ms, args.load_repeats)
                     for mbps in args.throttle for where in (url, isolated)]
            page = measure_page(browser, url, args.repeats)
            threaded = measure_page(browser, isolated, args.repeats) if args.compare_threads else None
            quality = (draw_quality(browser, url, args.weights, args.data_dir, args.draw_digits,
                                    args.draw_first) if args.draw_digits else None)
            browser.close()
        paths = {site / (u.split("/", 3)[3].split("?")[0] or "index.html") for u in page["downloaded"]}
        fetched = [p for p in paths if p.is_file()]
        sizes = {"site_mb": sum(p.stat().st_size for p in all_files) / 1e6,
                 "site_gzip_mb": gzipped(site, all_files) / 1e6,
                 "page_load_files": sorted(str(p.relative_to(site)) for p in fetched),
                 "page_load_mb": sum(p.stat().st_size for p in fetched) / 1e6,
                 "page_load_gzip_mb": gzipped(site, fetched) / 1e6}
    app = app_round_trips(args.weights, args.app_calls) if args.app_calls else None
    flops = flops_per_digit(page["info"]["config"])
    grid_ms = statistics.median(page["grid"])
    results = {"machine": machine_info(), "onnxruntime_web": page["info"]["onnxruntime_web"],
               "threads": page["info"]["threads"], "draw_encoder": encoder_note, "mflop_per_digit": flops / 1e6,
               "ready": stats(page["ready"]), "one_digit": stats(page["one"]), "grid_10x10": stats(page["grid"]),
               "grid_gflops": 100 * flops / (grid_ms / 1000) / 1e9, "slider_to_pixels": stats(page["slider"]),
               "draw": stats(page["draw"]), "draw_quality": quality, "sizes": sizes, "app": app,
               "first_seconds": first,
               "isolated": {"threads": threaded["info"]["threads"], "one_digit": stats(threaded["one"]),
                            "grid_10x10": stats(threaded["grid"]), "draw": stats(threaded["draw"]),
                            "slider_to_pixels": stats(threaded["slider"])} if threaded else None}
    s = results
    print(f"\nstatic site, headless Chromium, {s['threads']} wasm thread(s), onnxruntime-web {s['onnxruntime_web']}; "
          f"medians (p95) over {args.repeats}+ runs:")
    def row(label: str, timing: dict, target: str) -> str:
        return f"  {label:<34}{timing['median_ms']:7.1f} ms ({timing['p95_ms']:.1f})   {target}"

    print(row("ready (navigation -> first digit)", s["ready"], "target <= 1500"))
    print(row("one digit", s["one_digit"], "target <= 5"))
    print(row("slider move -> new pixels", s["slider_to_pixels"], "target <= 16"))
    print(row("10x10 grid", s["grid_10x10"], "target <= 100;")
          + f" {s['grid_gflops']:.1f} GFLOP/s at {s['mflop_per_digit']:.1f} MFLOP a digit")
    print(row("Draw (find my style -> morph)", s["draw"], f"target <= 300 ({encoder_note})"))
    print(f"  downloads: page load {sizes['page_load_mb']:.1f} MB ({sizes['page_load_gzip_mb']:.1f} MB gzipped); "
          f"whole site {sizes['site_mb']:.1f} MB ({sizes['site_gzip_mb']:.1f} MB gzipped)   target <= 25 MB")
    if first:
        print(f"first seconds, throttled ({args.latency_ms:.0f} ms latency), served without compression; "
              f"medians (p95) of {args.load_repeats} fresh loads:")
        for f in first:
            drawn, ready = f["first_drawn"], f["ready"]
            print(f"  {f['mbps']:g} Mbit/s, {f['threads']} thread(s): first drawn {drawn['median_ms']:.0f} ms "
                  f"({drawn['p95_ms']:.0f}), ready {ready['median_ms']:.0f} ms ({ready['p95_ms']:.0f}), "
                  f"{f['bytes_before_ready'] / 1e6:.2f} MB before ready   target (20 Mbit/s) <= 1000 / <= 3500")
    if s["isolated"]:
        iso = s["isolated"]
        print(f"served with COOP/COEP: {iso['threads']} wasm thread(s) (vs {s['threads']} above):")
        print(row("one digit", iso["one_digit"], ""))
        print(row("10x10 grid", iso["grid_10x10"], ""))
        print(row("Draw (find my style -> morph)", iso["draw"], ""))
    if quality:
        print(f"  Draw on MNIST test digits {quality['first']}-{quality['first'] + quality['digits'] - 1}: "
              f"mean RMS pixel distance {quality['mean_pixel_rms']:.4f}, restyled digits read as asked "
              f"{quality['restyle_accuracy']:.2%}, {quality['ms_per_digit']:.0f} ms a digit; "
              f"x the best of the first {SEED_BANK:,} seeds: mean {quality['mean_ratio_to_best_seed']:.2f}, "
              f"median {quality['median_ratio_to_best_seed']:.2f}")
    if app:
        print("Gradio app over plain HTTP, same machine, same run (medians, p95):")
        print(row("/generate round trip", app["generate"], ""))
        print(row("/grid 10x10 round trip", app["grid_10x10"], ""))
    print(f"\nwrote {write_results('browser', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
