"""The named directions of each served model, without ever making a request wait for a search.

Weights with a matching directions.json get it (read in milliseconds). New weights without one
(an export of a run, a Serve from the Train tab) get the closed-form SeFa directions at once,
marked as not measured, while the measured and named set is searched on a background thread;
it replaces them when it is done. Nothing is written to the weights folder.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from ..latent.direction_search import QUICK_SEARCH, SearchSettings, closed_form_directions, find_directions
from ..latent.directions import DirectionSet, stored_directions
from .model_holder import LoadedModel

log = logging.getLogger(__name__)
SEARCH_NICENESS = 10  # the search thread yields the CPU to requests (Linux: a per-thread nice)

Search = Callable[..., DirectionSet]  # find_directions' signature: (generator, *, settings, weights_sha256)


class DirectionCache:
    """Directions by weights fingerprint; `search` (find_directions) runs once per new model,
    on a daemon thread. `wait(model)` blocks until that model's search is over (for tests,
    benchmarks and the command line; requests never call it)."""

    def __init__(self, *, settings: SearchSettings = QUICK_SEARCH, search: Search = find_directions):
        self.settings, self._search = settings, search
        self._lock = threading.Lock()
        self._by_fingerprint: dict[str, DirectionSet] = {}
        self._searches: dict[str, threading.Thread] = {}

    def get(self, model: LoadedModel) -> DirectionSet:
        with self._lock:
            found = self._by_fingerprint.get(model.fingerprint)
        if found is not None:
            return found
        stored = (stored_directions(model.folder, model.generator, model.fingerprint)
                  if model.folder is not None else None)
        with self._lock:
            if model.fingerprint not in self._by_fingerprint:
                self._by_fingerprint[model.fingerprint] = stored or closed_form_directions(
                    model.generator, count=self.settings.count, weights_sha256=model.fingerprint)
                if stored is None:
                    self._start_search(model)
            return self._by_fingerprint[model.fingerprint]

    def wait(self, model: LoadedModel, timeout: float | None = None) -> DirectionSet:
        """The model's directions once its background search (if any) has ended."""
        self.get(model)
        with self._lock:
            search = self._searches.get(model.fingerprint)
        if search is not None:
            search.join(timeout)
        return self.get(model)

    def _start_search(self, model: LoadedModel) -> None:
        thread = threading.Thread(target=self._measure, args=(model,), daemon=True,
                                  name=f"directions-{model.fingerprint}")
        self._searches[model.fingerprint] = thread
        thread.start()

    def _measure(self, model: LoadedModel) -> None:
        if hasattr(os, "setpriority"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SEARCH_NICENESS)
            except OSError:
                pass
        try:
            found = self._search(model.generator, settings=self.settings, weights_sha256=model.fingerprint)
        except Exception:  # noqa: BLE001 - the closed-form set keeps serving; say why in the log
            log.exception("the direction search for weights %s failed; Explore keeps the "
                          "unmeasured SeFa directions", model.fingerprint)
            return
        with self._lock:
            self._by_fingerprint[model.fingerprint] = found
