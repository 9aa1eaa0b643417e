"""Ferry's flow exporter: import a Metaflow flow file and print its Ferry flow spec.

Usage: python -c "<this file>" FLOW_FILE [FLOW_CLASS]

Run by `ferry_spec::export::export_spec` with the flow's folder as the working directory. It
imports the flow with the real `metaflow` package, reads the graph Metaflow builds from the
source (`metaflow.graph.FlowGraph`), the flow and step decorators and the `Parameter`s, and
writes one JSON document to the original standard output:

    {"spec": {...}}                                       on success (exit 0)
    {"error": {"kind": ..., "message": ..., "traceback": ...}}   on failure (exit 1)

Anything the user's module prints goes to standard error, so it cannot corrupt the JSON. No
step runs: only the module body executes (as it does when Metaflow itself imports a flow).
Validation (graph rules, AWS limits) is the Rust side's job; this script reports what the flow
says, marking what Ferry cannot deploy (switch steps, @parallel, unknown decorators) so
validation can reject it with a message.
"""

import ast
import functools
import importlib.util
import json
import os
import sys
import traceback

# The spec version a flow without triggers is written in; @trigger/@trigger_on_finish need 2
# (the lowest version that can express a flow is written, so older deploy handlers read it).
SPEC_VERSION = 1
TRIGGER_SPEC_VERSION = 2

# Step decorators that run inside the task itself and need nothing from the deployment.
PASS_THROUGH_STEP_DECORATORS = {"card", "secrets"}
# `@parallel` is reported through the foreach step's `num_parallel`.
REPORTED_ELSEWHERE = {"parallel"}
BATCH_FIELDS = ("image", "queue", "iam_role", "cpu", "gpu", "memory", "shared_memory")
RESOURCE_FIELDS = ("cpu", "gpu", "memory", "shared_memory")


class ExportFailure(Exception):
    """A problem this script reports with a kind and a message (no traceback)."""

    def __init__(self, kind, message, classes=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        # The flow classes the file defines, when the kind is about choosing one.
        self.classes = classes


def user_traceback(exc):
    """The traceback of `exc` without the frames of this script and of importlib."""
    tb = exc.__traceback__
    ours = {"<string>", os.path.abspath(__file__) if "__file__" in globals() else ""}
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in ours or name.startswith("<frozen "):
            tb = tb.tb_next
        else:
            break
    return "".join(traceback.format_exception(type(exc), exc, tb))


def load_module(flow_file):
    folder = os.path.dirname(os.path.abspath(flow_file))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.argv = [flow_file]
    # Not "__main__": the file's `if __name__ == "__main__": MyFlow()` must not run.
    module_name = "ferry_flow_" + os.path.splitext(os.path.basename(flow_file))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, flow_file)
    if spec is None or spec.loader is None:
        raise ExportFailure("import", "cannot import %s: not a Python file" % flow_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # the user's code may raise anything, even SystemExit
        raise ExportFailure(
            "import",
            "importing %s failed:\n%s" % (flow_file, user_traceback(exc).rstrip()),
        )
    return module


def has_steps(klass):
    """Whether `klass` has a `start` step (a base class holding helpers only has none)."""
    return bool(getattr(getattr(klass, "start", None), "is_step", False))


def find_flow(module, flow_file, wanted, started):
    from metaflow import FlowSpec

    flows = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, FlowSpec)
        and value is not FlowSpec
        and value.__module__ == module.__name__
        and (has_steps(value) or value.__name__ == wanted)
    ]
    names = sorted(f.__name__ for f in flows)
    if wanted:
        for flow in flows:
            if flow.__name__ == wanted:
                return flow
        raise ExportFailure(
            "no_flow",
            "%s defines no flow class named %s (it defines: %s)"
            % (flow_file, wanted, ", ".join(names) or "none"),
            names,
        )
    if not flows:
        raise ExportFailure(
            "no_flow",
            "%s defines no flow: add a class that inherits from metaflow.FlowSpec" % flow_file,
        )
    if len(flows) > 1 and len(started) == 1:
        # The flow the file's main block starts is the one its tasks run.
        for flow in flows:
            if flow.__name__ in started:
                return flow
    if len(flows) > 1:
        raise ExportFailure(
            "several_flows",
            "%s defines several flows (%s): name the one to export"
            % (flow_file, ", ".join(names)),
            names,
        )
    return flows[0]


def is_main_test(test):
    """Whether `test` is `__name__ == "__main__"` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [x for x in sides if isinstance(x, ast.Name) and x.id == "__name__"]
    mains = [x for x in sides if isinstance(x, ast.Constant) and x.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def main_block(flow_file, module):
    """The file's `if __name__ == "__main__":` blocks: whether there is one, and the flow
    classes they start by name (`MyFlow()`); empty when they start one some other way."""
    from metaflow import FlowSpec

    with open(flow_file, "rb") as f:
        tree = ast.parse(f.read(), flow_file)
    blocks = [n for n in tree.body if isinstance(n, ast.If) and is_main_test(n.test)]
    known = {
        k
        for k, v in vars(module).items()
        if isinstance(v, type) and issubclass(v, FlowSpec) and v is not FlowSpec
    }
    started = set()
    for block in blocks:
        for node in ast.walk(block):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in known:
                started.add(node.func.id)
    return bool(blocks), started


def check_main_block(flow_file, flow, has_main, started):
    """Tasks run the flow file as a script (`python flow.py step ...`), so the file's
    `if __name__ == "__main__":` block decides which flow runs. Refuse a file without one (its
    tasks would run nothing) and a chosen flow that block does not start."""
    name = flow.__name__
    if not has_main:
        raise ExportFailure(
            "unsupported",
            "%s has no `if __name__ == \"__main__\":` block: Metaflow runs each step through it, "
            "so the deployed tasks would run nothing. End the file with:\n\n"
            "if __name__ == \"__main__\":\n    %s()" % (flow_file, name),
        )
    if started and name not in started:
        raise ExportFailure(
            "unsupported",
            "%s's `if __name__ == \"__main__\":` block starts %s, so the deployed tasks would run "
            "that flow, not %s. Deploy %s, or give %s a file of its own."
            % (flow_file, ", ".join(sorted(started)), name, " or ".join(sorted(started)), name),
        )


def number(value, kind, where):
    """`value` (int, float or numeric string) as an int or float, or an ExportFailure."""
    try:
        if kind is int:
            as_float = float(value)
            if as_float != int(as_float):
                raise ValueError
            return int(as_float)
        return float(value)
    except (TypeError, ValueError):
        raise ExportFailure("unsupported", "%s: %r is not a number" % (where, value))


def user_attrs(deco):
    return getattr(deco, "_user_defined_attributes", None) or set(deco.attributes)


def python_env(deco, where):
    attrs = deco.attributes
    packages = {}
    for field in ("libraries", "packages"):
        for name, version in (attrs.get(field) or {}).items():
            packages[str(name)] = str(version)
    env = {"packages": packages, "disabled": bool(attrs.get("disabled"))}
    if attrs.get("python"):
        env["python"] = str(attrs["python"])
    return env


def step_decorators(node, where):
    out = {}
    unsupported = []
    for deco in node.decorators:
        name = deco.name
        attrs = deco.attributes
        here = "%s @%s" % (where, name)
        if name == "retry":
            out["retry"] = {
                "times": number(attrs.get("times", 0), int, here + " times"),
                "minutes_between_retries": number(
                    attrs.get("minutes_between_retries", 0), int, here + " minutes_between_retries"
                ),
            }
        elif name == "catch":
            catch = {"print_exception": bool(attrs.get("print_exception", True))}
            if attrs.get("var"):
                catch["var"] = str(attrs["var"])
            out["catch"] = catch
        elif name == "timeout":
            seconds = (
                number(attrs.get("hours") or 0, int, here + " hours") * 3600
                + number(attrs.get("minutes") or 0, int, here + " minutes") * 60
                + number(attrs.get("seconds") or 0, int, here + " seconds")
            )
            out["timeout"] = {"seconds": seconds}
        elif name in ("resources", "batch"):
            fields = RESOURCE_FIELDS if name == "resources" else BATCH_FIELDS
            given = user_attrs(deco)
            section = {}
            for field in fields:
                value = attrs.get(field)
                if field not in given or value is None:
                    continue
                if field == "cpu":
                    section[field] = number(value, float, here + " cpu")
                elif field in ("gpu", "memory", "shared_memory"):
                    section[field] = number(value, int, "%s %s" % (here, field))
                    if section[field] < 0:
                        raise ExportFailure(
                            "unsupported",
                            "%s: %s=%r is negative; give a positive %s"
                            % (here, field, value, "count" if field == "gpu" else "number of MiB"),
                        )
                else:
                    section[field] = str(value)
            out[name] = section
        elif name == "environment":
            out["environment"] = {
                "vars": {str(k): str(v) for k, v in (attrs.get("vars") or {}).items()}
            }
        elif name in ("pypi", "conda"):
            out[name] = python_env(deco, here)
        elif name in PASS_THROUGH_STEP_DECORATORS or name in REPORTED_ELSEWHERE:
            continue
        elif name not in unsupported:
            unsupported.append(name)
    if unsupported:
        out["unsupported"] = unsupported
    return out


STEP_TYPES = {
    "start": "start",
    "linear": "linear",
    "split": "split",
    "foreach": "foreach",
    "join": "join",
    "end": "end",
    "split-switch": "switch",
}


def export_step(node):
    ty = STEP_TYPES.get(node.type, "linear")
    # A step that takes `inputs` is a join whatever else it does; validation then says what
    # is wrong with it (a join that splits, a start or end that takes inputs).
    if node.num_args > 1 and ty in ("split", "foreach", "end", "start", "switch"):
        ty = "join"
    step = {"name": node.name, "type": ty, "next": list(node.out_funcs)}
    if node.type == "foreach" and getattr(node, "parallel_foreach", False):
        step["num_parallel"] = int(node.num_parallel or 0)
    elif node.type == "foreach" and node.foreach_param is not None:
        step["foreach"] = str(node.foreach_param)
    step["decorators"] = step_decorators(node, "step %s" % node.name)
    return step


def parameter_type(param):
    from metaflow.parameters import JSONTypeClass

    ty = param.kwargs.get("type", str)
    if isinstance(ty, JSONTypeClass):
        return "json"
    for py, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if ty is py:
            return name
    raise ExportFailure(
        "unsupported",
        "parameter %s has type %r; Ferry supports str, int, float, bool and JSONType"
        % (param.name, getattr(ty, "__name__", ty)),
    )


def export_parameter(param):
    param.init()
    kwargs = param.kwargs
    ty = parameter_type(param)
    out = {"name": param.name, "type": ty, "required": bool(kwargs.get("required"))}
    default = kwargs.get("default")
    if callable(default):
        raise ExportFailure(
            "unsupported",
            "parameter %s has a default computed at deploy time (a function); "
            "Ferry needs a literal default" % param.name,
        )
    if default is not None:
        if ty == "json" and isinstance(default, str):
            try:
                default = json.loads(default)
            except ValueError as exc:
                raise ExportFailure(
                    "unsupported",
                    "parameter %s: its JSON default is not valid JSON (%s)" % (param.name, exc),
                )
        out["default"] = default
    if kwargs.get("help"):
        out["help"] = str(kwargs["help"])
    return out


def flow_parameters(flow):
    """The flow's Parameters in declaration order (base classes first). A Parameter held in an
    attribute Metaflow skips when it collects parameters (`FlowSpec._NON_PARAMETERS`: `name`,
    `input`, `index`, ...) is refused: Metaflow would never set it."""
    from metaflow import FlowSpec
    from metaflow.parameters import Parameter

    skipped = set(getattr(FlowSpec, "_NON_PARAMETERS", ()))
    found = {}
    for klass in reversed(flow.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Parameter) and not attr.startswith("_"):
                found.pop(attr, None)
                found[attr] = value
    for attr, param in found.items():
        if attr in skipped:
            raise ExportFailure(
                "unsupported",
                "Parameter %r is assigned to the flow attribute `%s`, which Metaflow never "
                "sets from a Parameter (it skips %s; `self.name` is the flow's name), so the "
                "parameter would be ignored: assign the Parameter to another attribute, e.g. "
                "`%s_param = Parameter(%r, ...)`"
                % (param.name, attr, ", ".join(sorted(skipped)), attr, param.name),
            )
    params = list(found.values())
    configs = [p.name for p in params if getattr(p, "IS_CONFIG_PARAMETER", False)]
    if configs:
        raise ExportFailure(
            "unsupported",
            "Config parameters (%s) are not supported by Ferry yet; use Parameters"
            % ", ".join(configs),
        )
    return [export_parameter(p) for p in params]


def flow_decorator_map(flow):
    try:
        from metaflow.flowspec import FlowStateItems

        return flow._flow_state[FlowStateItems.FLOW_DECORATORS]
    except (ImportError, AttributeError, KeyError):
        decos = getattr(flow, "_flow_decorators", {})
        return decos if isinstance(decos, dict) else {}


def export_flow_decorators(flow):
    out = {}
    unsupported = []
    for name, decos in flow_decorator_map(flow).items():
        if not decos:
            continue
        deco = decos[-1]
        attrs = deco.attributes
        if name == "schedule":
            if attrs.get("cron"):
                every = {"kind": "cron", "cron": str(attrs["cron"])}
            elif attrs.get("weekly"):
                every = {"kind": "weekly"}
            elif attrs.get("hourly"):
                every = {"kind": "hourly"}
            elif attrs.get("daily"):
                every = {"kind": "daily"}
            else:
                continue  # @schedule(daily=False): no schedule
            if attrs.get("timezone"):
                every["timezone"] = str(attrs["timezone"])
            out["schedule"] = every
        elif name == "project":
            project = {"name": str(attrs.get("name") or ""), "production": bool(attrs.get("production"))}
            if attrs.get("branch"):
                project["branch"] = str(attrs["branch"])
            out["project"] = project
        elif name in ("pypi_base", "conda_base"):
            out[name] = python_env(deco, "@" + name)
        elif name == "trigger":
            out["trigger"] = export_trigger(attrs)
        elif name == "trigger_on_finish":
            out["trigger_on_finish"] = export_trigger_on_finish(attrs)
        elif name == "exit_hook":
            out["exit_hook"] = exit_hooks(flow, decos)
        else:
            unsupported.append(name)
    if unsupported:
        out["unsupported"] = sorted(unsupported)
    return out


def is_stringish(value):
    return isinstance(value, str)


def namespaced_name(value):
    """(logical name, prefix) when `value` is Metaflow's `namespaced_event_name(name)` (a partial
    of its delayed name generator, resolved per deployment from @project and branch)."""
    if (
        isinstance(value, functools.partial)
        and getattr(value.func, "__name__", "") == "_delayed_name_generator"
        and is_stringish(value.keywords.get("event_name"))
    ):
        try:
            from metaflow.metaflow_config import NAMESPACED_EVENTS_PREFIX as prefix
        except ImportError:
            prefix = "mfns"
        return value.keywords["event_name"], str(prefix or "mfns")
    return None


def trigger_mapping(parameters, event_name):
    """An event's `parameters=` as {parameter: payload field}: a dict, or a list (or tuple) of
    parameter names and (parameter, field) pairs (Metaflow's `process_parameters`)."""
    where = "The *parameters* attribute for event %s in @trigger" % event_name
    if parameters is None:
        return {}
    if isinstance(parameters, dict):
        out = {}
        for key, value in parameters.items():
            if not is_stringish(key) or not is_stringish(value):
                raise ExportFailure(
                    "unsupported",
                    "%s is invalid. It should be a dictionary of string keys and string values." % where,
                )
            out[key] = value
        return out
    if isinstance(parameters, (list, tuple)):
        out = {}
        for mapping in parameters:
            if is_stringish(mapping):
                out[mapping] = mapping
            elif (
                isinstance(mapping, (tuple, list))
                and len(mapping) == 2
                and all(is_stringish(x) for x in mapping)
            ):
                out[mapping[0]] = mapping[1]
            else:
                raise ExportFailure(
                    "unsupported",
                    "%s is invalid. It should be a list of parameter names and (parameter, field) "
                    "pairs of strings, not %r." % (where, mapping),
                )
        return out
    if callable(parameters):
        raise ExportFailure(
            "unsupported",
            "%s is a function evaluated at deploy time; Ferry needs the mapping written out "
            "(a dict, or a list of names and (parameter, field) pairs)." % where,
        )
    raise ExportFailure(
        "unsupported",
        "%s is invalid: %r. Give a dict such as {'day': 'date'} or a list such as "
        "['day', ('region', 'area')]." % (where, parameters),
    )


def trigger_event(event):
    """One event of @trigger as {"name", "namespace_prefix"?, "parameters"?}."""
    if is_stringish(event):
        return {"name": event}
    namespaced = namespaced_name(event)
    if namespaced:
        return {"name": namespaced[0], "namespace_prefix": namespaced[1]}
    if isinstance(event, dict):
        if "name" not in event:
            raise ExportFailure(
                "unsupported", "The *event* attribute for *@trigger* is missing the *name* key."
            )
        extra = sorted(str(k) for k in event if k not in ("name", "parameters"))
        if extra:
            raise ExportFailure(
                "unsupported",
                "The event %r of @trigger has the key(s) %s, which Metaflow does not read; an "
                "event has only 'name' and 'parameters'." % (event["name"], ", ".join(extra)),
            )
        name = event["name"]
        out = {}
        namespaced = namespaced_name(name)
        if namespaced:
            out["name"], out["namespace_prefix"] = namespaced
        elif is_stringish(name):
            out["name"] = name
        else:
            raise ExportFailure(
                "unsupported",
                "The *name* of the event %r in @trigger is not a string. Ferry reads event names "
                "written out or given as namespaced_event_name('...'), not other functions "
                "evaluated at deploy time." % (name,),
            )
        mapping = trigger_mapping(event.get("parameters"), out["name"])
        if mapping:
            out["parameters"] = mapping
        return out
    if callable(event):
        raise ExportFailure(
            "unsupported",
            "The event %r of @trigger is a function evaluated at deploy time; Ferry needs the "
            "event written out (a name, or {'name': ..., 'parameters': ...}), or "
            "namespaced_event_name('...')." % (event,),
        )
    raise ExportFailure(
        "unsupported",
        "Incorrect format for *event* attribute in *@trigger* decorator. Supported formats are "
        "string and dictionary - @trigger(event='foo') or "
        "@trigger(event={'name': 'foo', 'parameters': {'alpha': 'beta'}})",
    )


def trigger_options(options, decorator):
    """`options=`: `reset_at` read, any other key listed as unsupported."""
    if not options:
        return {}
    if not isinstance(options, dict):
        raise ExportFailure(
            "unsupported", "The *options* of @%s must be a dict, not %r." % (decorator, options)
        )
    out = {}
    unsupported = sorted(str(k) for k in options if k != "reset_at")
    reset = options.get("reset_at")
    if reset is not None:
        if (
            not isinstance(reset, dict)
            or not is_stringish(reset.get("cron"))
            or not all(k in ("cron", "timezone") for k in reset)
            or not (reset.get("timezone") is None or is_stringish(reset.get("timezone")))
        ):
            raise ExportFailure(
                "unsupported",
                "The reset_at option of @%s must be {'cron': '<5-field cron>', 'timezone': "
                "'<IANA zone>'} (timezone optional), not %r." % (decorator, reset),
            )
        out["reset_at"] = {"cron": reset["cron"]}
        if reset.get("timezone"):
            out["reset_at"]["timezone"] = reset["timezone"]
    if unsupported:
        out["unsupported"] = unsupported
    return out


def export_trigger(attrs):
    event, events = attrs.get("event"), attrs.get("events")
    if event and events:
        raise ExportFailure(
            "unsupported",
            "Specify only one of *event* or *events* attributes in *@trigger* decorator.",
        )
    if event:
        listed = [event]
    elif events:
        if not isinstance(events, (list, tuple)):
            raise ExportFailure(
                "unsupported",
                "Incorrect format for *events* attribute in *@trigger* decorator. Supported "
                "format is list - @trigger(events=['foo', {'name': 'bar', 'parameters': "
                "{'gamma': 'kappa'}}])",
            )
        listed = list(events)
    else:
        listed = []
    out = {"events": [trigger_event(e) for e in listed]}
    options = trigger_options(attrs.get("options"), "trigger")
    if options:
        out["options"] = options
    return out


def upstream_flow(flow, several):
    """One upstream of @trigger_on_finish as {"flow", "project"?, "branch"?} (Metaflow's
    `_parse_static_triggers` and `_parse_fq_name`)."""
    if is_stringish(flow):
        fq = flow
        out = {}
    elif isinstance(flow, dict):
        if "name" not in flow:
            raise ExportFailure(
                "unsupported",
                "One or more flows in the *flows* attribute for *@trigger_on_finish* is missing "
                "the *name* key."
                if several
                else "The *flow* attribute for *@trigger_on_finish* is missing the *name* key.",
            )
        name = flow["name"]
        if not is_stringish(name) or "." in name:
            raise ExportFailure(
                "unsupported",
                "The *name* attribute of the *flow* %s is not a valid string" % (name,),
            )
        extra = sorted(str(k) for k in flow if k not in ("name", "project", "project_branch"))
        if extra:
            raise ExportFailure(
                "unsupported",
                "The flow %s of @trigger_on_finish has the key(s) %s; an upstream flow has only "
                "'name', 'project' and 'project_branch'." % (name, ", ".join(extra)),
            )
        out = {}
        for key, field in (("project", "project"), ("project_branch", "branch")):
            if key in flow:
                if not is_stringish(flow[key]):
                    raise ExportFailure(
                        "unsupported",
                        "The *%s* attribute of the *flow* %s is not a string" % (key, name),
                    )
                out[field] = flow[key]
        fq = name
    elif callable(flow):
        raise ExportFailure(
            "unsupported",
            "The upstream flow %r of @trigger_on_finish is a function evaluated at deploy time; "
            "Ferry needs the flow written out ('FooFlow' or 'project.branch.FooFlow')." % (flow,),
        )
    else:
        raise ExportFailure(
            "unsupported",
            "Incorrect type for *flow* attribute in *@trigger_on_finish* decorator. Supported "
            "type is string or Dict[str, str] - @trigger_on_finish(flow='FooFlow') or "
            "@trigger_on_finish(flow={'name':'FooFlow', 'project_branch': 'branch'})",
        )
    dots = fq.count(".")
    if dots == 0:
        out["flow"] = fq
    elif dots >= 2:
        out["project"], tail = fq.split(".", 1)
        out["branch"], out["flow"] = tail.rsplit(".", 1)
    else:
        raise ExportFailure(
            "unsupported",
            "Incorrect format for *flow* in *@trigger_on_finish* decorator. Specify either just "
            "the *flow_name* or a fully qualified name like *project_name.branch_name.flow_name*.",
        )
    return out


def export_trigger_on_finish(attrs):
    flow, flows = attrs.get("flow"), attrs.get("flows")
    if flow and flows:
        raise ExportFailure(
            "unsupported",
            "Specify only one of *flow* or *flows* attributes in *@trigger_on_finish* decorator.",
        )
    if flow:
        listed = [upstream_flow(flow, False)]
    elif flows:
        if not isinstance(flows, (list, tuple)):
            raise ExportFailure(
                "unsupported",
                "Incorrect type for *flows* attribute in *@trigger_on_finish* decorator. "
                "Supported type is list - @trigger_on_finish(flows=['FooFlow', 'BarFlow'])",
            )
        listed = [upstream_flow(f, True) for f in flows]
    else:
        listed = []
    out = {"flows": listed}
    options = trigger_options(attrs.get("options"), "trigger_on_finish")
    if options:
        out["options"] = options
    return out
def hook_name(fn, where):
    """A hook as Metaflow's ExitHookDecorator names it: a string as given, a function by name."""
    if isinstance(fn, str):
        return fn
    if callable(fn) and getattr(fn, "__name__", None):
        return fn.__name__
    raise ExportFailure(
        "unsupported",
        "@exit_hook %s: %r is neither a function nor the name of one" % (where, fn),
    )


def exit_hooks(flow, decos):
    """Every @exit_hook of the flow merged: its on_success and on_error function names, in
    order, and options' image. A plain name must be a function of the flow's module (the hook
    task loads it from the flow file, as exit_hook_script.py does)."""
    module = sys.modules.get(flow.__module__)
    hooks = {"on_success": [], "on_error": []}
    images = set()
    for deco in decos:
        attrs = deco.attributes
        given = 0
        for field in ("on_success", "on_error"):
            fns = attrs.get(field) or []
            if not isinstance(fns, (list, tuple)):
                fns = [fns]
            for fn in fns:
                name = hook_name(fn, field)
                if "." not in name and not callable(getattr(module, name, None)):
                    raise ExportFailure(
                        "unsupported",
                        "@exit_hook %s names %s, which %s does not define as a function: define it "
                        "at the top level of the flow file, or give an import path (package.module.%s)"
                        % (field, name, os.path.basename(module.__file__ or "the flow file"), name),
                    )
                hooks[field].append(name)
                given += 1
        if not given:
            raise ExportFailure(
                "unsupported",
                "@exit_hook needs at least one of on_success=[...] or on_error=[...]",
            )
        image = (attrs.get("options") or {}).get("image")
        if image:
            images.add(str(image))
    if len(images) > 1:
        raise ExportFailure(
            "unsupported",
            "the @exit_hook decorators ask for different images (%s): give one" % ", ".join(sorted(images)),
        )
    if images:
        hooks["image"] = images.pop()
    return hooks


def metaflow_version():
    try:
        from metaflow.metaflow_version import get_version

        return str(get_version())
    except Exception:  # an unusual install; the version is informative only
        return None


def export(flow_file, wanted):
    module = load_module(flow_file)
    has_main, started = main_block(flow_file, module)
    flow = find_flow(module, flow_file, wanted, started)
    check_main_block(flow_file, flow, has_main, started)
    from metaflow.graph import FlowGraph

    graph = FlowGraph(flow)
    names = list(graph.sorted_nodes)
    names += sorted(n.name for n in graph if n.name not in names)  # unreachable steps
    decorators = export_flow_decorators(flow)
    triggered = "trigger" in decorators or "trigger_on_finish" in decorators
    spec = {
        "spec_version": TRIGGER_SPEC_VERSION if triggered else SPEC_VERSION,
        "flow": flow.__name__,
        "file": os.path.basename(flow_file),
        "parameters": flow_parameters(flow),
        "decorators": decorators,
        "steps": [export_step(graph[n]) for n in names],
    }
    version = metaflow_version()
    if version:
        spec["metaflow_version"] = version
    return spec


def main():
    # Keep the real stdout for the JSON; send fd 1 (the user's prints, C extensions) to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if len(sys.argv) < 2:
        doc = {"error": {"kind": "usage", "message": "usage: exporter FLOW_FILE [FLOW_CLASS]"}}
    else:
        wanted = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
        try:
            doc = {"spec": export(sys.argv[1], wanted)}
        except ExportFailure as exc:
            doc = {"error": {"kind": exc.kind, "message": exc.message}}
            if exc.classes is not None:
                doc["error"]["classes"] = exc.classes
        except Exception as exc:  # a bug here or an unexpected metaflow: report it whole
            doc = {
                "error": {
                    "kind": "internal",
                    "message": "the Ferry exporter failed: %s" % exc,
                    "traceback": traceback.format_exc(),
                }
            }
    json.dump(doc, out, default=repr)
    out.write("\n")
    out.flush()
    return 1 if "error" in doc else 0


if __name__ == "__main__":
    sys.exit(main())
