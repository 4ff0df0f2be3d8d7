"""The demo as a Hugging Face Space: `python -m gan.space OUT --kind KIND`.

`static` (gan.space.static_site): the whole demo as static files that run in the visitor's
browser through onnxruntime-web; no server computes anything. `zerogpu` and `cpu`
(gan.space.folder): the Gradio app for a ZeroGPU or a CPU Space.

The top layer: it packages what gan.serving serves and may import any gan module; no gan
module imports it.
"""
