"""`python flow.py ferry …`: the flow's own command line drives Ferry, as
`python flow.py step-functions …` drives Step Functions.

Each subcommand is one small function: it builds the arguments of a `ferry` command (the flow
file and its `@project` branch come from `_selector`), runs it through `_run` (which shows
Ferry's messages as they come and turns a failure into one Metaflow error), and prints the
outcome. Adding a command Ferry gains (`ferry resume`, `ferry publish`) is one more function
of that shape.

`create`'s options keep the names and help texts of `step-functions create`; `--branch` and
`--production` are the `@project` options Metaflow puts before the command
(`python flow.py --branch b ferry create`).
"""

import json
import os
import re
import sys

from metaflow import current, parameters
from metaflow._vendor import click
from metaflow.exception import MetaflowException

from .binary import run_json
from .errors import FerryCommandError, FerryNotFound
from .options import cli_parameter_values, trigger_options


@click.group()
def cli():
    pass


@cli.group(
    help="Commands related to Ferry: deploy this flow to production on a Ferry stack (the "
    "embedded stack of `ferry up`, or a Ferry stack on AWS) and operate its runs. Each command "
    "runs Ferry's `ferry` command line (found through METAFLOW_FERRY_BIN or on PATH)."
)
@click.pass_obj
def ferry(obj):
    pass


def _flow_file():
    return os.path.abspath(sys.argv[0])


def _selector(obj):
    """The flow file, its class and its `@project` branch, as `ferry` commands take them."""
    args = [_flow_file(), "--flow", obj.flow.name]
    if current.get("project_name"):
        # Metaflow's branch names: prod, prod.<b>, test.<b>, user.<name> (project_decorator).
        branch = current.branch_name
        if branch == "prod":
            args.append("--production")
        elif branch.startswith("prod."):
            args += ["--production", "--branch", branch[len("prod.") :]]
        elif branch.startswith("test."):
            args += ["--branch", branch[len("test.") :]]
    return args


def _deployment_hint(obj):
    """The deployment's name as Metaflow would give it, for messages only (Ferry names it)."""
    return current.get("project_flow_name") or obj.flow.name


def _run(obj, args, rewrite=()):
    """Run `ferry --json ARGS…`, showing its messages (each `(old, new)` of `rewrite` replaced)
    and returning its JSON; a failure raises a `FerryCommandError`."""

    def show(line):
        for old, new in rewrite:
            line = line.replace(old, new)
        obj.echo(line, no_bold=True)

    try:
        return run_json(args, on_stderr=show)
    except FerryCommandError as e:
        raise e.shown() from None


def _write_json(path, doc):
    if path:
        with open(path, "w") as f:
            json.dump(doc, f)


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _metaflow_time(text):
    """`2026-11-30 02:24:19+00:00`, as Metaflow prints Step Functions' times, from Ferry's
    RFC 3339 times (`2026-11-30T02:24:19.123456789Z`; nanoseconds, which `datetime` of older
    Pythons cannot parse)."""
    m = _RFC3339.match(text or "")
    if not m:
        return text or ""
    offset = "+00:00" if m.group(3) == "Z" else m.group(3)
    return "%s %s%s" % (m.group(1), m.group(2), offset)


class _ReportTo(object):
    """Write a failure to `--error-file` (the Deployer reads it to raise the same error in the
    caller's process), then let it propagate."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.path and exc is not None:
            kind = getattr(exc, "kind", None)
            if kind is None and isinstance(exc, FerryNotFound):
                kind = "ferry_not_found"
            elif kind is None and isinstance(exc, MetaflowException):
                kind = "invalid_flow"  # Metaflow's own checks of the flow (lint)
            kind = kind or "failed"
            message = getattr(exc, "detail", None) or getattr(exc, "message", None)
            message = message or str(exc)
            _write_json(
                self.path,
                {
                    "kind": kind,
                    "message": message,
                    "headline": getattr(exc, "headline", None),
                },
            )
        return False


@ferry.command(help="Deploy a new version of this workflow to Ferry.")
@click.option(
    "--authorize",
    default=None,
    help="Authorize using this production token. You need this "
    "when you are re-deploying an existing flow for the first "
    "time. The token is cached in METAFLOW_HOME, so you only "
    "need to specify this once.",
)
@click.option(
    "--generate-new-token",
    is_flag=True,
    help="Generate a new production token for this flow. "
    "This will move the production flow to a new "
    "namespace.",
)
@click.option(
    "--new-token",
    "given_token",
    default=None,
    help="Use the given production token for this flow. "
    "This will move the production flow to the given "
    "namespace.",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    default=None,
    help="Annotate all objects produced by Ferry runs "
    "with the given tag. You can specify this option multiple "
    "times to attach multiple tags.",
)
@click.option(
    "--namespace",
    "user_namespace",
    default=None,
    help="Change the namespace from the default (production token) "
    "to the given tag. See run --help for more information.",
)
@click.option(
    "--only-json",
    is_flag=True,
    default=False,
    help="Only print out JSON sent to AWS Step Functions. Do not deploy anything.",
)
@click.option(
    "--max-workers",
    default=100,
    show_default=True,
    help="Maximum number of parallel processes.",
)
@click.option(
    "--workflow-timeout", default=None, type=int, help="Workflow timeout in seconds."
)
@click.option(
    "--deployer-attribute-file",
    default=None,
    type=str,
    hidden=True,
    help="Write the workflow name to the file specified. Used internally for Metaflow's "
    "Deployer API.",
)
@click.option(
    "--error-file",
    default=None,
    type=str,
    hidden=True,
    help="Write a failure as JSON to the file specified. Used internally by the Deployer API.",
)
@click.pass_obj
def create(
    obj,
    authorize=None,
    generate_new_token=False,
    given_token=None,
    tags=None,
    user_namespace=None,
    only_json=False,
    max_workers=100,
    workflow_timeout=None,
    deployer_attribute_file=None,
    error_file=None,
):
    with _ReportTo(error_file):
        obj.check(obj.graph, obj.flow, obj.environment, pylint=obj.pylint)
        args = ["deploy", *_selector(obj), "--max-workers", str(max_workers)]
        if authorize:
            args += ["--authorize", authorize]
        if generate_new_token:
            args.append("--generate-new-token")
        if given_token:
            args += ["--new-token", given_token]
        for tag in tags or ():
            args += ["--tag", tag]
        if user_namespace:
            args += ["--namespace", user_namespace]
        if workflow_timeout is not None:
            args += ["--workflow-timeout", str(workflow_timeout)]
        if only_json:
            args.append("--only-json")
        out = _run(obj, args, rewrite=[("ferry deploy --", "ferry create --")])
        attributes = {"flow_name": obj.flow.name, "metadata": obj.metadata.metadata_str()}
        if only_json:
            obj.echo_always(json.dumps(out, indent=4), err=False, no_bold=True)
            attributes["name"] = _deployment_hint(obj)
            attributes["additional_info"] = {"definition": out}
        else:
            attributes["name"] = out["deployment"]
        _write_json(deployer_attribute_file, attributes)


@parameters.add_custom_parameters(deploy_mode=False)
@ferry.command(help="Trigger the workflow on Ferry.")
@click.option(
    "--run-id-file",
    default=None,
    show_default=True,
    type=str,
    help="Write the ID of this run to the file specified.",
)
@click.option(
    "--deployer-attribute-file",
    default=None,
    show_default=True,
    type=str,
    help="Write the metadata and pathspec of this run to the file specified.\nUsed internally "
    "for Metaflow's Deployer API.",
    hidden=True,
)
@click.pass_obj
def trigger(obj, run_id_file=None, deployer_attribute_file=None, **kwargs):
    args = ["trigger", *_selector(obj)]
    if run_id_file:
        args += ["--run-id-file", os.path.abspath(run_id_file)]
    args += trigger_options(cli_parameter_values(obj.flow, kwargs))
    out = _run(obj, args)
    run_id = out["run_id"]
    _write_json(
        deployer_attribute_file,
        {
            "name": out["deployment"],
            "metadata": obj.metadata.metadata_str(),
            "pathspec": "/".join((obj.flow.name, run_id)),
        },
    )
    obj.echo(
        "Workflow *{name}* triggered on Ferry (run-id *{run_id}*).".format(
            name=out["deployment"], run_id=run_id
        ),
        bold=True,
    )


@ferry.command(help="List all runs of the workflow on Ferry.")
@click.option(
    "--running", is_flag=True, help="List all runs of the workflow in RUNNING state."
)
@click.option(
    "--succeeded", is_flag=True, help="List all runs of the workflow in SUCCEEDED state."
)
@click.option(
    "--failed", is_flag=True, help="List all runs of the workflow in FAILED state."
)
@click.option(
    "--timed-out", is_flag=True, help="List all runs of the workflow in TIMED_OUT state."
)
@click.option(
    "--aborted", is_flag=True, help="List all runs of the workflow in ABORTED state."
)
@click.pass_obj
def list_runs(
    obj, running=False, succeeded=False, failed=False, timed_out=False, aborted=False
):
    flags = [
        ("--running", running),
        ("--succeeded", succeeded),
        ("--failed", failed),
        ("--timed-out", timed_out),
        ("--aborted", aborted),
    ]
    chosen = [flag for flag, on in flags if on]
    runs = _run(obj, ["list-runs", *_selector(obj), *chosen])
    for r in runs:
        line = "*%s* startedAt:'%s' " % (r["run_id"], _metaflow_time(r["started_at"]))
        if r.get("stopped_at"):
            line += "stoppedAt:'%s' " % _metaflow_time(r["stopped_at"])
        obj.echo(line + "*%s*" % r["status"])
    if not runs:
        states = " and ".join("*%s*" % f[2:].replace("-", "_").upper() for f in chosen)
        obj.echo(
            "No %sexecutions for *%s* found on Ferry."
            % (states + " " if states else "", _deployment_hint(obj))
        )


@ferry.command(help="Show the status of a run of the workflow on Ferry.")
@click.argument("run-id", required=True, type=str)
@click.pass_obj
def status(obj, run_id):
    st = _run(obj, ["status", run_id])
    obj.echo("Run *%s* of *%s*: *%s*" % (run_id, st.get("flow"), st["status"]))
    obj.echo("Started: %s" % _metaflow_time(st.get("started_at")))
    if st.get("stopped_at"):
        obj.echo("Stopped: %s" % _metaflow_time(st["stopped_at"]))
    if st.get("failing_step"):
        obj.echo("Failed step: *%s*" % st["failing_step"])
    if st["status"] not in ("RUNNING", "SUCCEEDED"):
        exc = st.get("exception")
        if exc:
            text = exc["type"] + (": " + exc["message"] if exc.get("message") else "")
            obj.echo("Exception: %s" % text, no_bold=True)
        if st.get("exit_meaning"):
            obj.echo("Exit code %s: %s" % (st.get("exit_code"), st["exit_meaning"]), no_bold=True)
        if st.get("logs"):
            obj.echo("Logs: %s" % st["logs"], no_bold=True)
        elif st.get("cause"):
            obj.echo("Cause: %s" % st["cause"], no_bold=True)


@ferry.command(help="Terminate flow execution on Ferry.")
@click.argument("run-id", required=True, type=str)
@click.pass_obj
def terminate(obj, run_id):
    obj.echo(
        "Terminating run *{run_id}* for {flow_name} ...".format(
            run_id=run_id, flow_name=obj.flow.name
        ),
        bold=True,
    )
    stopped = _run(obj, ["terminate", run_id])
    obj.echo("\nRun terminated at %s." % _metaflow_time(stopped.get("stopped_at")))


@ferry.command(help="Delete a workflow")
@click.option(
    "--authorize",
    default=None,
    type=str,
    help="Authorize the deletion with a production token",
)
@click.pass_obj
def delete(obj, authorize=None):
    args = ["delete", *_selector(obj)]
    if authorize:
        args += ["--authorize", authorize]
    _run(obj, args)
