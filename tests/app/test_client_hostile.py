"""Every parameter of every endpoint of the launched app, sent hostile values over plain HTTP
one at a time (the others valid): each call ends, and a refusal says what is wrong, never
Gradio's generic "the upstream app has raised an exception" and never a traceback.

Plain HTTP because a JSON library would not send NaN or 1e309; the app has training on (a
stand-in trainer, as in tests/runs/test_manager.py) so the /train_* rules are reached too."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
import torch

import app
from gan.latent.codec import encode_latent
from gan.model.sampling import latents_from_seeds
from gan.runs.manager import RunManager
from gan.serving.model_holder import ModelHolder
from tests.support.drawings import SEVEN, draw_strokes, png_bytes
from tests.support.runs import FAKE_TRAINER, kill_leftovers, write_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
UPLOADED = "UPLOADED"  # stands for the file the fixture uploads first
LATENT = encode_latent(latents_from_seeds([7], 64)[0])

# Endpoint -> its parameters with a valid value each (JSON); a run name is a finished run's.
ENDPOINTS = {
    "generate": {"digit": 3, "seed": 42, "truncation_psi": 1.0},
    "grid": {"rows": 2, "cols": 2, "seed": 0, "mode": "one digit per row (0-9)", "digit": 7,
             "truncation_psi": 1.0},
    "interpolate": {"digit_a": 3, "seed_a": 1, "digit_b": 8, "seed_b": 2, "steps": 4, "method": "slerp",
                    "truncation_psi": 1.0},
    "explore": {"digit": 3, "seed": 42, "strengths": "{}", "truncation_psi": 1.0},
    "draw": {"image": UPLOADED, "digit": 7},
    "restyle": {"latent": LATENT, "truncation_psi": 1.0, "strengths": "{}"},
    "timeline": {"step": 0},
    "train_start": {"preset": "custom", "steps": 100, "batch_size": 8, "seed": 0},
    "train_status": {"run": "done-run"},
    "train_stop": {"run": "done-run"},
    "train_resume": {"run": "done-run", "steps": 200},
    "train_serve": {"run": "done-run"},
    "train_push": {"run": "done-run", "repo": "you/digitgan"},
}
NO_PARAMETERS = {"reload", "train_revert"}

# name -> JSON text of the value (NaN and 1e309 are what a plain JSON body may carry)
HOSTILE = {
    "null": "null", "empty text": '""', "text": '"x"', "negative": "-1", "fraction": "3.5",
    "1e309": "1e309", "-1e309": "-1e309", "NaN": "NaN", "true": "true", "empty list": "[]",
    "empty object": "{}", "nested list": "[" * 50 + "]" * 50,
    "nested JSON text": json.dumps("[" * 5000 + "]" * 5000), "huge text": json.dumps("x" * 1_000_000),
    "huge integer": "9" * 400, "path object": '{"path": "/etc/passwd"}',
}
GENERIC = "upstream Gradio app has raised an exception"
CASES = [(endpoint, parameter, value) for endpoint, parameters in ENDPOINTS.items()
         for parameter in parameters for value in HOSTILE]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    trainer = root / "trainer" / "train.py"
    trainer.parent.mkdir()
    trainer.write_text(FAKE_TRAINER)
    holder = ModelHolder(WEIGHTS)
    manager = RunManager(root / "runs", train_script=trainer, niceness=0, stop_timeout_s=20,
                         served_weights=holder.folder, serve=lambda folder: holder.serve(folder).message)
    write_run(manager.runs_root, "done-run", checkpoint__pt="100",
              status__json={"state": "finished", "step": 100, "steps": 100, "pid": 1})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    demo = app.build_demo(holder, auto_reload_s=None, concurrency_limit=2, training=manager)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    base = demo.local_url.rstrip("/")
    try:
        with httpx.Client(timeout=60) as http:
            uploaded = http.post(f"{base}/gradio_api/upload",
                                 files={"files": ("seven.png", png_bytes(draw_strokes(SEVEN, "paper")))}).json()[0]
            yield {"base": base, "demo": demo, "http": http,
                   "upload": json.dumps({"path": uploaded, "meta": {"_type": "gradio.FileData"}})}
    finally:
        kill_leftovers(manager)
        demo.close()
        torch.set_num_threads(threads)


def send(served, endpoint: str, values: list[str]) -> tuple[str, str]:
    """(outcome, text): outcome is "complete", "error" (the event's message) or "http <code>"."""
    http, base = served["http"], served["base"]
    body = '{"data": [' + ", ".join(values) + "]}"
    posted = http.post(f"{base}/gradio_api/call/{endpoint}", content=body,
                       headers={"Content-Type": "application/json"})
    if posted.status_code != 200:
        return f"http {posted.status_code}", posted.text
    stream = http.get(f"{base}/gradio_api/call/{endpoint}/{posted.json()['event_id']}").text
    if "event: complete" in stream:
        return "complete", stream
    data = stream.split("event: error", 1)[1].split("data:", 1)[1].strip().splitlines()[0]
    return "error", json.loads(data).get("error") if data.startswith("{") else data


def test_the_table_covers_every_endpoint_and_parameter(served):
    named = served["demo"].get_api_info(all_endpoints=True)["named_endpoints"]  # the operator's too
    parameters = {name[1:]: [p["parameter_name"] for p in info["parameters"]] for name, info in named.items()}
    assert {name for name, given in parameters.items() if not given} == NO_PARAMETERS
    assert {name: given for name, given in parameters.items() if given} == \
        {name: list(values) for name, values in ENDPOINTS.items()}


@pytest.mark.parametrize("endpoint, parameter, value", CASES,
                         ids=[f"{e}-{p}-{v}" for e, p, v in CASES])
def test_a_hostile_value_gets_a_clear_answer(served, endpoint, parameter, value):
    values = [HOSTILE[value] if name == parameter else
              (served["upload"] if given == UPLOADED else json.dumps(given))
              for name, given in ENDPOINTS[endpoint].items()]
    outcome, text = send(served, endpoint, values)
    if outcome == "error":
        assert text and GENERIC not in text, f"the generic message for {endpoint}({parameter}={value})"
        assert "Traceback" not in text and len(text) < 2000
    elif outcome.startswith("http"):  # Gradio's own refusal of a body it cannot parse
        assert outcome == "http 400" and "parsing the body" in text, (outcome, text[:300])
    else:
        assert outcome == "complete"  # an allowed value, e.g. null for an optional one
