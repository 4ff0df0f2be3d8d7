"""The page's Draw on real handwriting it was never tuned on (MNIST test digits from 9,000; the
search's settings were chosen on 0-999): in Chromium, `DigitGAN.invert` lands far closer than
the best of the first 1,000 seeds of the digit, and its style reads as asked. Quality only;
its speed is a benchmark (`python -m benchmarks.browser --draw-digits N --draw-first 9000`)."""
from __future__ import annotations

import os
import shutil

import pytest

from benchmarks.browser import draw_quality, export_site
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, sync_api
from tests.support.static_site import SHIPPED_WEIGHTS, serving, skip_without_the_runtime_files

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.mnist, pytest.mark.timeout(600)]

if not os.environ.get("DIGITGAN_DATA_DIR"):
    pytest.skip("needs the real MNIST IDX files in $DIGITGAN_DATA_DIR", allow_module_level=True)


def test_draw_beats_the_seed_bank_on_digits_it_never_saw(tmp_path):
    skip_without_the_runtime_files()
    assert shutil.which(CHROMIUM)
    site, _ = export_site(str(SHIPPED_WEIGHTS), tmp_path)
    with serving(site) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            quality = draw_quality(browser, url, str(SHIPPED_WEIGHTS), os.environ["DIGITGAN_DATA_DIR"], 30,
                                   first=9000)
        finally:
            browser.close()
    assert quality["mean_ratio_to_best_seed"] <= 0.33, quality
    assert quality["restyle_accuracy"] >= 0.99, quality
    assert quality["mean_pixel_rms"] <= 0.055, quality
