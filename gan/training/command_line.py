"""train.py's command line, as a library: the parser made from TrainConfig's commented fields,
and the config a parsed command line means (a new run, a preset, or a resumed run).

It lives here so that every way of starting a run reads the same command line: `train.py`
itself, and the Train tab's runs inside a ZeroGPU worker (gan.runs.zerogpu), which cannot
start a process of their own.
"""
from __future__ import annotations

import argparse
import dataclasses

from ..config import PRESETS, ModelConfig, TrainConfig, field_comments, with_preset

DESCRIPTION = """Train DigitGAN: a thin CLI over gan.training.loop.

    python train.py --data-dir DIR                      # train from scratch, export to weights/
    python train.py --data-dir DIR --preset quick       # a short run (the first weights' quality)
    python train.py --resume runs/mnist                 # continue a run from its checkpoint
    python train.py --resume runs/mnist --steps 9000    # ... and train it for longer
    python train.py --export runs/mnist                 # export a checkpoint's EMA generator
    python train.py --data-dir DIR --push-to-hub you/digitgan   # ... and publish it (HF_TOKEN)
    torchrun --nproc_per_node=4 train.py --data-dir DIR # DistributedDataParallel
"""


def _add_fields(parser: argparse.ArgumentParser, cls: type, skip: set[str]) -> None:
    comments, defaults = field_comments(cls), cls()
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        help_text = f"{comments.get(f.name, '')} (default: {default})"
        # SUPPRESS: only flags the user gave override a resumed run's saved config.
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=help_text)
        else:
            kind = type(default) if default is not None else str
            parser.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=help_text,
                                metavar=f.name.upper())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python train.py", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="a named recipe for a new run; flags given with it override its values: "
                             + "; ".join(f"{k}: {v or 'the defaults'}" for k, v in PRESETS.items()))
    parser.add_argument("--export", metavar="RUN_DIR",
                        help="only export RUN_DIR's EMA generator to --export-dir, then exit")
    parser.add_argument("--evaluate", action=argparse.BooleanOptionalAction, default=True,
                        help="run the full evaluation (gan.evaluate) on the exported weights (default: on)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    parser.add_argument("--directions", action=argparse.BooleanOptionalAction, default=True,
                        help="find, measure and name the exported weights' latent directions (the quick "
                             "setting of python -m gan.find_directions, under a minute on a CPU) and write "
                             "directions.json beside them, so the app's Explore tab never searches "
                             "for them (default: on)")
    parser.add_argument("--push-to-hub", metavar="OWNER/NAME",
                        help="upload the exported weights (after the evaluation) with a generated "
                             "model card to this Hub model repo; the token comes from $HF_TOKEN or "
                             "`hf auth login`")
    _add_fields(parser.add_argument_group("training"), TrainConfig, skip={"model"})
    _add_fields(parser.add_argument_group("model (a new run only)"), ModelConfig, skip=set())
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    given = vars(args)
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    train_names = {f.name for f in dataclasses.fields(TrainConfig)} - {"model"}
    if args.resume:
        from .run_folder import load_checkpoint_config  # torch: only for a resumed run

        if args.preset:
            raise ValueError("--preset is for a new run; a resumed run keeps its saved settings")
        base = load_checkpoint_config(args.resume)
        saved_model = base.model.to_dict()
        changed_model = sorted(k for k in model_names & set(given) if given[k] != saved_model[k])
        if changed_model:
            raise ValueError(f"cannot change the model of a resumed run ({', '.join(changed_model)})")
        base.run_dir = args.resume
    else:
        base = TrainConfig()
    values = base.to_dict()
    if args.preset:
        values = with_preset(values, args.preset)
    if not args.resume:  # the model flags given win over the preset's
        values["model"].update({k: given[k] for k in model_names & set(given)})
    values.update({k: given[k] for k in train_names & set(given)})
    if args.resume:
        values["run_dir"] = args.resume
    if values.get("export_dir") in ("", "none", "None"):
        values["export_dir"] = None
    return TrainConfig.from_dict(values)
