"""The Train tab's runs: train.py runs started, watched, stopped, resumed, served and pushed from
the page, read through their run folders, and trained by a launcher (a separate process, or a
ZeroGPU call). Sits on gan.training's run-folder layout and below."""
