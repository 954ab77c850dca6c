"""Text summary of a golden model, laid out like ``akida.Model.summary()``."""
from __future__ import annotations


def _table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    rule = "_" * (sum(widths) + 2 * (len(widths) - 1))
    out = [line(header), "=" * len(rule)]
    for r in rows:
        out += [line(r), rule]
    return out


def format_summary(model) -> str:
    layers = model.layers
    if not layers:
        return "Model: no layers"
    head = _table([[list(model.input_shape), list(model.output_shape), len(layers)]],
                  ["Input shape", "Output shape", "Layers"])
    rows = []
    for layer in layers:
        shapes = layer.kernel_shapes() or [""]
        rows.append([f"{layer.name} ({layer.kind})", list(layer.output_dims), shapes[0]])
        for extra in shapes[1:]:
            rows.append(["", "", extra])
    body = _table(rows, ["Layer (type)", "Output shape", "Kernel shape"])
    text = ["                Model Summary", *head, "", *body]
    params = model.learning
    if params is not None:
        last = layers[-1]
        text += ["", "              Learning Summary",
                 *_table([[last.name, last.num_inputs, params.num_weights,
                           params.num_classes, last.units // params.num_classes]],
                         ["Learning Layer", "# Input Conn.", "# Weights", "# Classes",
                          "Neurons/class"])]
    return "\n".join(text)
