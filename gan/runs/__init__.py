"""The Train tab's runs: train.py processes started, watched, stopped, resumed and served from
the page, read through their run folders. Sits on gan.training's run-folder layout and below."""
