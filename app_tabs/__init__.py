"""The web app's tabs: one module and one builder function per tab (see app.py).

Each builder makes its components inside the current gr.Blocks, wires its events, and
returns what app.py needs to refresh it on page load and after a weights reload.
"""
