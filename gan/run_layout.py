"""The files of a training run's folder: one list of names for the trainer that writes them
and the run manager and Train tab that read them (no imports, so readers need no torch)."""

CHECKPOINT_FILE = "checkpoint.pt"      # models, optimisers, random streams, histories
STATUS_FILE = "status.json"            # where the run is: start, every log step, end
HISTORY_FILE = "history.json"          # losses and images/s, one entry per log step
METRICS_FILE = "metrics_history.json"  # the periodic class accuracy / Frechet distance
LOG_FILE = "log.txt"                   # the trainer's log lines
GRID_FILE = "samples.png"              # the latest fixed-noise grid
SAMPLES_DIR = "samples"                # every fixed-noise grid, samples/step_0000500.png
LOSS_CURVE_FILE = "loss_curve.png"
PROGRESS_GIF = "progress.gif"          # the grids so far, as an animation
