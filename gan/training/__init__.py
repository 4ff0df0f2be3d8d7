"""Training: the loop (update D, update G, G_ema), its objective, DDP, and the run folder it
writes (checkpoints, export, progress pictures, status). Sits on gan.model and gan.measure."""
