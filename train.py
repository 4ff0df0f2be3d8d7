"""Train DigitGAN: a thin CLI over gan.training. `python train.py --help` lists every option
with its default; the command line itself (the parser made from TrainConfig, the usage
examples) lives in gan.training.command_line, so that runs inside a ZeroGPU worker read it too.
"""
from __future__ import annotations

import os
import shlex
import sys

from gan.data import MnistNotFound
from gan.training.command_line import build_parser, config_from_args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    command = shlex.join(["python", "train.py", *argv])
    try:
        if args.push_to_hub:
            from gan.model.hub import check_repo_id

            check_repo_id(args.push_to_hub)
            if getattr(args, "export_dir", "weights") in ("", "none", "None"):
                raise ValueError("--push-to-hub uploads the exported weights: give an --export-dir")
        if args.export:
            from gan.training.run_folder import export_from_checkpoint

            export_dir = export_from_checkpoint(args.export, getattr(args, "export_dir", None) or "weights",
                                                command=command)
            print(f"exported to {export_dir}")
            if args.directions:
                report_directions(export_dir)
            return push(export_dir, args.push_to_hub, command) if args.push_to_hub else 0
        cfg = config_from_args(args)
        from gan.runtime import select_device

        select_device(cfg.device)  # a bad --device is a usage error, not a crash mid-setup
    except (ValueError, TypeError, FileNotFoundError) as exc:
        parser.error(str(exc))

    from gan.training.loop import TrainingDiverged, train

    try:
        result = train(cfg, resume=bool(args.resume), command=command, progress=not args.no_progress)
    except (MnistNotFound, TrainingDiverged) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.status == "interrupted":
        return 130
    if result.export_dir is not None and args.directions:
        report_directions(result.export_dir)
    if result.export_dir is not None and args.evaluate and not cfg.synthetic_size:
        from gan.measure.evaluation import evaluate_weights

        evaluate_weights(result.export_dir, data_dir=cfg.data_dir)
    if args.push_to_hub and result.export_dir is not None:
        return push(result.export_dir, args.push_to_hub, command)
    return 0


def report_directions(export_dir) -> None:
    """directions.json beside the exported weights (gan.find_directions, the quick setting)."""
    import time

    from gan.latent.direction_search import store_directions as store

    start = time.perf_counter()
    print(f"finding the latent directions of {export_dir} (--no-directions skips this) ...", flush=True)
    path = store(export_dir)
    print(f"wrote {path} in {time.perf_counter() - start:.0f} s; `python -m gan.find_directions --weights "
          f"{export_dir}` runs the full search")


def push(export_dir, repo_id: str, command: str) -> int:
    """Upload an exported weights folder; 1 with the reason when the Hub refuses it."""
    from gan.model.hub import push_weights_to_hub
    from gan.model.weights import WeightsError

    try:
        url = push_weights_to_hub(export_dir, repo_id, token=os.environ.get("HF_TOKEN"), command=command)
    except (WeightsError, OSError, ValueError) as exc:
        print(f"error: could not push {export_dir} to {repo_id}: {exc}", file=sys.stderr)
        return 1
    print(f"pushed {export_dir} to {repo_id}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
