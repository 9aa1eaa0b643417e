"""Flow parameter values as `ferry trigger` options (`--name text`).

`ferry trigger` reads each value as text and types it as the deployment records the parameter
(`int`, `float`, `bool`, `str`, or a JSON document given as JSON text, as Metaflow does), so
every value is turned back into the text a user would type.
"""

import json


def option_text(value):
    """The command-line text of one parameter value.

    `str` as it is; `bool` as `true`/`false`; anything else (numbers, dicts, lists for JSON
    parameters) as JSON text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def trigger_options(values):
    """`["--name", "text", …]` for a mapping of parameter name to value; `None` values are left
    out (the deploy-time default applies)."""
    out = []
    for name, value in values.items():
        if value is not None:
            out += ["--" + name, option_text(value)]
    return out


def cli_parameter_values(flow, kwargs):
    """The flow parameters given on `python flow.py ferry trigger`'s command line, by parameter
    name, as `ferry trigger` option text.

    `kwargs` are click's parsed values (options named as click names them: `-` as `_`, lower
    case); a JSON parameter arrives parsed and goes back as JSON text, a deploy-time function as
    its text (as Metaflow's `step-functions trigger` converts them).
    """
    from metaflow import JSONType
    from metaflow.parameters import DelayedEvaluationParameter

    values = {}
    for _, param in flow._get_parameters():
        if getattr(param, "IS_CONFIG_PARAMETER", False):
            continue
        value = kwargs.get(param.name.replace("-", "_").lower())
        if value is None:
            continue
        if isinstance(value, DelayedEvaluationParameter):
            value = value(return_str=True)
        elif param.kwargs.get("type") == JSONType:
            value = json.dumps(value)
        values[param.name] = option_text(value)
    return values
