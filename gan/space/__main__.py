"""python -m gan.space OUT --kind KIND [--weights DIR]: the demo as a Hugging Face Space folder.

--kind static writes the whole demo as static files that run in the visitor's browser (a
free static Space); zerogpu and cpu write the Gradio app for a ZeroGPU or a CPU Space
(gan.space.folder), with the weights or a Hub reference (--weights hf://owner/name@rev).
"""
from __future__ import annotations

import argparse
import gzip
import sys

KINDS = ("static", "zerogpu", "cpu")
KIND_HELP = ("static: everything runs in the visitor's browser (a free static Space); "
             "zerogpu, cpu: the Gradio app on a ZeroGPU Space (free, two per account) or a CPU "
             "Space (a paid plan)")


def _gzipped_bytes(site) -> int:
    return sum(len(gzip.compress((site.folder / path).read_bytes(), 6)) for path in site.files)


def export_static(args: argparse.Namespace) -> int:
    from ..model.weights import WeightsError
    from .onnx_export import ExportError
    from .ort_web import OrtWebError
    from .static_site import build_static_site

    try:
        site = build_static_site(args.out, args.weights, log=lambda m: print(m, flush=True))
    except WeightsError as exc:
        print(f"error: the weights cannot be exported: {exc.advice()}", file=sys.stderr)
        return 2
    except (ExportError, OrtWebError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in site.notes:
        print(f"note: {note}")
    for name, check in site.checks.items():
        print(f"{name}: {check}")
    print(f"wrote {site.folder}: {len(site.files)} files, {site.total_bytes / 1e6:.1f} MB "
          f"({_gzipped_bytes(site) / 1e6:.1f} MB gzipped), weights {site.weights_sha256}")
    print(f"try it: python -m http.server -d {site.folder}  (then open http://localhost:8000)")
    return 0


def build_app_folder(args: argparse.Namespace) -> int:
    from ..model.weights import WeightsError
    from .folder import build_space_folder

    try:
        out = build_space_folder(args.out, kind=args.kind, weights=args.weights)
    except WeightsError as exc:
        print(f"error: the weights cannot be served: {exc.advice()}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} for a {args.kind} Space; upload it with huggingface_hub's "
          f"HfApi().upload_folder(folder_path={str(out)!r}, repo_id='you/digitgan', repo_type='space')")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.space", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the folder to write (empty, new, or an earlier export)")
    parser.add_argument("--kind", choices=KINDS, required=True, help=KIND_HELP)
    parser.add_argument("--weights", default="weights",
                        help="weights folder (default: weights); for zerogpu and cpu also a Hub model "
                             "repo hf://owner/name[@revision], which the Space then fetches")
    args = parser.parse_args(argv)
    if args.kind == "static":
        return export_static(args)
    return build_app_folder(args)


if __name__ == "__main__":
    raise SystemExit(main())
