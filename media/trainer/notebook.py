"""Show an Attention Reuse analysis in a notebook.

    from notebook import show_analysis
    show_analysis(".attention-reuse/analyses/model-20261130-101500.analysis.json")

The cell's output carries the analysis file under the MIME type
application/vnd.attention-reuse.analysis+json, which the Attention Reuse extension's
notebook renderer draws as the panel's layer-pair heatmaps in VS Code (the notebook is saved
with it, so the heatmaps show again without running the cell); other front ends show the
text/plain table that goes with it. Only the standard library and IPython (which every
notebook kernel has) are used.
"""

import json

MIME = "application/vnd.attention-reuse.analysis+json"
SCHEMA = "attention-reuse/analysis@1"


def _layer_pair_table(stack):
    """The layer-pair matrix as text, one row per layer, two decimals."""
    pairs = stack.get("layerPairs") or []
    lines = [f"{stack.get('name')} ({stack.get('kind')}-attention): layer-pair similarity"]
    lines.append("l \\ l'  " + " ".join(f"{j:>5}" for j in range(len(pairs))))
    for i, row in enumerate(pairs):
        lines.append(f"{i:>6}  " + " ".join(f"{v:5.2f}" for v in row))
    return "\n".join(lines)


def analysis_bundle(path):
    """The MIME bundle of an analysis file: the file under MIME, a text summary beside it.

    Raises ValueError naming the file when it is not an analysis file.
    """
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not JSON: {e}") from None
    return bundle_for(data, path)


def bundle_for(data, label="the analysis"):
    """The MIME bundle of an analysis already read; `label` names it in errors."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{label} is not an {SCHEMA} file")
    stacks = data.get("stacks")
    if not isinstance(stacks, list) or not stacks:
        raise ValueError(f"{label} holds no stacks")
    run = data.get("run") or {}
    model = (data.get("model") or {}).get("path", "the model")
    head = f"Attention Reuse analysis of {model}: {run.get('examples')} examples, {run.get('tokens')} tokens"
    text = "\n\n".join([head] + [_layer_pair_table(s) for s in stacks])
    return {MIME: data, "text/plain": text}


def show_analysis(path):
    """Displays an analysis file as a cell output (see the module's docstring)."""
    from IPython.display import display

    display(analysis_bundle(path), raw=True)
