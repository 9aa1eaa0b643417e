"""Find Ferry's `ferry` command line and run it with `--json`: the one contract between this
package and Ferry (README "Command reference": every command takes `--json`; a failing command
prints one `{"error": {"kind", "message"}}` object on stdout, with the command's own result beside
it when it has one; exit codes 0 success, 1 refused or failed, 2 usage error).

Where `ferry` is found, first match wins:
1. `METAFLOW_FERRY_BIN`: the path of the binary, as an environment variable or as a key of the
   Metaflow profile (`~/.metaflowconfig/config.json`, or `config_<METAFLOW_PROFILE>.json`);
2. `ferry` on `PATH`.

Commands run with `FERRY_PYTHON` set to the calling interpreter (unless already set), so Ferry
exports the flow with the very `metaflow` this package runs in.
"""

import json
import os
import shutil
import subprocess
import sys
import threading

from .errors import FerryCommandError, FerryNotFound

SETTING = "METAFLOW_FERRY_BIN"

INSTALL_HINT = (
    "Install Ferry's command line from a Ferry checkout (it needs a Rust toolchain):\n"
    "    cargo install --locked --path cli                      # ferry, into ~/.cargo/bin\n"
    "    cargo install --locked --path functions/task-wrapper   # task-wrapper, for `ferry up`\n"
    "and put ~/.cargo/bin on PATH; or build them (`cargo build --release --bins`) and set\n"
    "    export METAFLOW_FERRY_BIN=/path/to/ferry/target/release/ferry\n"
    "(an environment variable, or a key of your Metaflow profile)."
)

# `ferry --version` of each binary checked, by path.
_checked = {}


def _configured(env):
    value = env.get(SETTING)
    if value is None:
        from metaflow.metaflow_config_funcs import from_conf

        value = from_conf("FERRY_BIN")
    return value or None


def ferry_binary(env=None):
    """The path of the `ferry` binary to run, checked to be Ferry's.

    Parameters
    ----------
    env : Mapping[str, str], optional
        The environment the commands will run in (default: this process's).

    Raises
    ------
    FerryNotFound
        Nothing at `METAFLOW_FERRY_BIN` or on `PATH`, or not Ferry's `ferry`; the message says
        exactly what to install or set.
    """
    env = os.environ if env is None else env
    configured = _configured(env)
    if configured:
        path = os.path.expanduser(configured)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise FerryNotFound(
                "%s is %r, which is not an executable file.\n%s"
                % (SETTING, configured, INSTALL_HINT)
            )
    else:
        path = shutil.which("ferry", path=env.get("PATH", os.defpath))
        if path is None:
            raise FerryNotFound(
                "No `ferry` on PATH and %s is not set.\n%s" % (SETTING, INSTALL_HINT)
            )
    _check_is_ferry(path)
    return path


def _check_is_ferry(path):
    if path in _checked:
        return
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise FerryNotFound("Cannot run %s: %s\n%s" % (path, e, INSTALL_HINT)) from None
    if not out.startswith("ferry "):
        raise FerryNotFound(
            "%s is not Ferry's command line (`%s --version` printed %r).\n%s"
            % (path, path, out.strip()[:200], INSTALL_HINT)
        )
    _checked[path] = out.split()[1] if len(out.split()) > 1 else ""


def command_env(env=None):
    """The environment `ferry` runs in: `env` (default: this process's) with `FERRY_PYTHON`
    defaulting to this interpreter."""
    out = dict(os.environ if env is None else env)
    if not out.get("FERRY_PYTHON"):
        out["FERRY_PYTHON"] = sys.executable
    return out


def run_json(args, env=None, cwd=None, on_stderr=None):
    """Run `ferry --json ARGS…` and return what it printed on stdout, parsed.

    Parameters
    ----------
    args : List[str]
        The command and its arguments, e.g. `["trigger", "flow.py", "--num", "7"]`.
    env : Mapping[str, str], optional
        The environment (default: this process's); see `command_env`.
    cwd : str, optional
        The working directory.
    on_stderr : Callable[[str], None], optional
        Called with each line `ferry` writes on stderr (its progress and Metaflow-worded
        messages), as it comes, without the trailing newline; `None`: the lines are dropped.
        The `ferry: error: …` block of a failure is not passed on: it is the raised error.

    Returns
    -------
    The JSON document `ferry` printed (an object or a list), `None` if it printed nothing.

    Raises
    ------
    FerryNotFound
        No `ferry` binary (see `ferry_binary`).
    FerryCommandError
        The command failed: its `error.kind`, `error.message`, exit code and result.
    """
    env = command_env(env)
    binary = ferry_binary(env)
    proc = subprocess.Popen(
        [binary, "--json", *map(str, args)],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))
    reader.start()
    held = []  # the `ferry: error:` block, held back until we know whether it is the error
    for line in proc.stderr:
        line = line.rstrip("\n")
        if held or line.startswith("ferry: error: "):
            held.append(line)
        elif on_stderr is not None:
            on_stderr(line)
    reader.join()
    code = proc.wait()
    stdout = out[0] if out else ""
    try:
        doc = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        doc = None
    if code == 0:
        if held and on_stderr is not None:
            for line in held:
                on_stderr(line)
        return doc
    # The failure object is a mapping (a run's own error is `error_name`, a string).
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        result = {k: v for k, v in doc.items() if k != "error"} or None
        raise FerryCommandError(
            error.get("kind", "failed"), error.get("message", ""), code, result
        )
    # No error object (a crash): what it wrote on stderr is all there is.
    text = "\n".join(held).strip() or "(no output)"
    raise FerryCommandError(
        "failed", "`ferry %s` exited %d: %s" % (" ".join(args[:1]), code, text), code
    )
