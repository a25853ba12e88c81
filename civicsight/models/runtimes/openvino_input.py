"""The input convention shared by the OpenVINO adapters: batches of u8 NHWC BGR images
(as OpenCV gives them) go in; conversion to the network's f32 NCHW layout, and to RGB
where the network wants it, runs inside the compiled graph."""

from __future__ import annotations

from typing import Any


def compile_for_u8_bgr(
    core: Any,
    model: Any,
    device: str,
    config: dict[str, Any],
    *,
    rgb: bool = False,
    scale: float | None = None,
    nhwc_outputs: int = 0,
) -> Any:
    """``model`` compiled to take u8 NHWC BGR tensors. ``rgb`` swaps channels, ``scale``
    divides the pixels, ``nhwc_outputs`` returns that many first outputs channels-last."""
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    steps = ppp.input().preprocess().convert_element_type(ov.Type.f32)
    if rgb:
        tensor.set_color_format(ColorFormat.BGR)
        steps.convert_color(ColorFormat.RGB)
    if scale is not None:
        steps.scale(scale)
    for i in range(nhwc_outputs):
        ppp.output(i).model().set_layout(ov.Layout("NCHW"))
        ppp.output(i).tensor().set_layout(ov.Layout("NHWC"))
    return core.compile_model(ppp.build(), device, config)
