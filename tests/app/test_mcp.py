"""The app as an MCP server (`python app.py --mcp`), driven with the `mcp` client SDK: the
demo's tools with clear names and typed parameters, no operator tools unless training is
allowed, and the same pixels as the HTTP API."""
from __future__ import annotations

import asyncio
import base64
import io
import subprocess
import sys

import numpy as np
import pytest
from gradio_client import Client
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

import app
from gan.serving.model_holder import ModelHolder
from tests.support.browser import free_port
from tests.support.png_files import pixels
from tests.support.processes import REPO_ROOT, core_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DEMO_TOOLS = {"generate", "grid", "interpolate", "explore", "draw", "restyle", "timeline"}
OPERATOR_TOOLS = {"reload_weights", "start_training_run", "training_run_status", "stop_training_run",
                  "resume_training_run", "serve_training_run", "revert_served_weights", "push_training_run"}


def mcp_session(url: str, work):
    """Run `work(session)` against the MCP server at `url` and return its result."""
    async def run():
        async with streamable_http_client(f"{url.rstrip('/')}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)
    return asyncio.run(run())


@pytest.fixture(scope="module")
def served():
    demo = app.build_demo(REPO_ROOT / "weights", auto_reload_s=None)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                mcp_server=True)
    try:
        yield demo
    finally:
        demo.close()


def test_the_demo_tools_and_no_operator_tools(served):
    tools = mcp_session(served.local_url, lambda s: s.list_tools()).tools
    assert {t.name for t in tools} == DEMO_TOOLS
    by_name = {t.name: t for t in tools}
    generate = by_name["generate"]
    assert "PNG" in generate.description
    assert generate.inputSchema["properties"]["digit"]["type"] == "integer"
    assert set(generate.inputSchema["properties"]) == {"digit", "seed", "truncation_psi"}
    assert set(by_name["grid"].inputSchema["properties"]) >= {"rows", "cols", "seed"}
    assert all(t.description for t in tools)


def test_generate_over_mcp_draws_what_the_http_api_draws(served, tmp_path):
    result = mcp_session(served.local_url, lambda s: s.call_tool(
        "generate", {"digit": 8, "seed": 1234, "truncation_psi": 0.7}))
    assert not result.isError
    image = next(c for c in result.content if c.type == "image")
    with Image.open(io.BytesIO(base64.b64decode(image.data))) as png:
        over_mcp = np.asarray(png.convert("L"))
    over_http = pixels(Client(served.local_url, verbose=False, download_files=str(tmp_path)).predict(
        8, 1234, 0.7, api_name="/generate"))
    assert over_mcp.shape == (280, 280) and np.array_equal(over_mcp, over_http)


def test_a_bad_value_over_mcp_says_what_is_allowed(served):
    result = mcp_session(served.local_url, lambda s: s.call_tool(
        "generate", {"digit": 12, "seed": 1, "truncation_psi": 1.0}))
    assert result.isError
    assert "digit must be a whole number from 0 to 9, got 12" in " ".join(c.text for c in result.content
                                                                       if c.type == "text")


def test_with_training_allowed_the_operator_tools_are_offered(tmp_path):
    holder = ModelHolder(REPO_ROOT / "weights")
    demo = app.build_demo(holder, auto_reload_s=None,
                          training=app.make_run_manager(holder, allow_training=True, runs_dir=tmp_path / "runs"))
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                mcp_server=True)
    try:
        names = {t.name for t in mcp_session(demo.local_url, lambda s: s.list_tools()).tools}
    finally:
        demo.close()
    assert names == DEMO_TOOLS | OPERATOR_TOOLS


def test_app_py_takes_mcp():
    assert app.parse_args(["--mcp"]).mcp is True
    assert app.parse_args([]).mcp is None  # Gradio then reads $GRADIO_MCP_SERVER
    help_text = subprocess.run([sys.executable, str(REPO_ROOT / "app.py"), "--help"], capture_output=True, text=True,
                               env=core_env(), timeout=120).stdout
    assert "--mcp" in help_text and "/gradio_api/mcp/" in help_text
