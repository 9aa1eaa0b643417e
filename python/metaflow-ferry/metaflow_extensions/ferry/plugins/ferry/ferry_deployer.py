"""`Deployer("flow.py").ferry()`: Metaflow's Deployer API for Ferry.

`create()` runs `python flow.py [top-level options] ferry create …` as Metaflow's other
deployers do (so `Deployer(..., branch="b")`, `environment=…`, configs work the same); the
`DeployedFlow` and `TriggeredRun` it returns talk to the `ferry` binary directly by deployment
name (`ferry_deployer_objects`). This module is imported by every Metaflow process that resolves
deployers, so it imports the objects module only when used.
"""

import json
import os
import sys
import tempfile
from contextlib import nullcontext
from typing import Any, ClassVar, Dict, Optional, Type

from metaflow.metaflow_config import CLICK_API_PROCESS_CONFIG
from metaflow.runner.deployer_impl import DeployerImpl
from metaflow.runner.utils import get_lower_level_group, make_process_error_message, with_dir

from .binary import ferry_binary
from .errors import FerryCommandError, FerryException, FerryFlowError, FerryNotFound


class FerryDeployer(DeployerImpl):
    """
    Deployer implementation for Ferry: the flow becomes a Step Functions state machine on a
    Ferry stack (the embedded stack of `ferry up`, or a Ferry stack on AWS, whichever the
    `ferry` command line is configured for).

    Raises
    ------
    FerryNotFound
        No `ferry` binary (METAFLOW_FERRY_BIN, else PATH); the message says what to install.
    FerryFlowError
        The flow file cannot be loaded.
    """

    TYPE: ClassVar[Optional[str]] = "ferry"

    def __init__(self, deployer_kwargs: Dict[str, str], **kwargs):
        """
        Parameters
        ----------
        deployer_kwargs : Dict[str, str]
            Options of the `ferry` group (it has none today).
        **kwargs : Any
            The `Deployer` arguments (flow_file, show_output, profile, env, cwd, …).
        """
        self._deployer_kwargs = deployer_kwargs
        env = dict(os.environ)
        env.update(kwargs.get("env") or {})
        ferry_binary(env)  # fail here, once and clearly, when Ferry is not installed
        flow_file = kwargs.get("flow_file")
        try:
            super().__init__(**kwargs)
        except FerryException:
            raise
        except Exception as e:  # the flow file is imported here by Metaflow's click API
            raise FerryFlowError(_load_failure(flow_file, e)) from None

    @property
    def deployer_kwargs(self) -> Dict[str, Any]:
        return self._deployer_kwargs

    @staticmethod
    def deployed_flow_type() -> Type[
        "metaflow_extensions.ferry.plugins.ferry.ferry_deployer_objects.FerryDeployedFlow"
    ]:
        from .ferry_deployer_objects import FerryDeployedFlow

        return FerryDeployedFlow

    def create(
        self, **kwargs
    ) -> "metaflow_extensions.ferry.plugins.ferry.ferry_deployer_objects.FerryDeployedFlow":
        """
        Deploy the flow to Ferry (`python flow.py ferry create`, i.e. `ferry deploy`).

        Parameters
        ----------
        authorize : str, optional, default None
            Authorize using this production token. Required when re-deploying an existing
            flow for the first time. The token is cached in METAFLOW_HOME.
        generate_new_token : bool, optional, default False
            Generate a new production token for this flow. Moves the production flow to a new
            namespace.
        given_token : str, optional, default None
            Use the given production token for this flow. Moves the production flow to the
            given namespace.
        tags : List[str], optional, default None
            Annotate all objects produced by the deployment's runs with these tags.
        user_namespace : str, optional, default None
            Change the namespace from the default (production token) to the given tag.
        only_json : bool, optional, default False
            Only print out the state machine JSON without deploying anything.
        max_workers : int, optional, default 100
            Maximum number of parallel processes.
        workflow_timeout : int, optional, default None
            Workflow timeout in seconds.

        Returns
        -------
        FerryDeployedFlow
            The flow deployed to Ferry.

        Raises
        ------
        FerryCommandError
            Ferry refused (production token) or failed the deploy; its `kind` and `message`
            say why.
        FerryFlowError
            Metaflow's checks of the flow failed.
        """
        from .ferry_deployer_objects import FerryDeployedFlow

        # Metaflow's own `_create` waits on a FIFO that a command ending without writing it
        # (a flow file whose main block does not start the flow) never closes: it would hang for
        # `file_read_timeout`. Here the command writes plain files and is waited for.
        with tempfile.TemporaryDirectory() as scratch:
            attributes = os.path.join(scratch, "deployment.json")
            error_file = os.path.join(scratch, "error.json")
            with with_dir(self.cwd) if CLICK_API_PROCESS_CONFIG else nullcontext():
                command = get_lower_level_group(
                    self.api, self.top_level_kwargs, self.TYPE, self.deployer_kwargs
                ).create(
                    deployer_attribute_file=attributes, error_file=error_file, **kwargs
                )
            pid = self.spm.run_command(
                [sys.executable, *command],
                env=self.env_vars,
                cwd=self.cwd,
                show_output=self.show_output,
            )
            command_obj = self.spm.get(pid)
            command_obj.sync_wait()
            failure = _read_json(error_file)
            if failure is not None:
                raise _failure_of(failure)
            content = _read_json(attributes)
            if command_obj.process.returncode != 0 or content is None:
                raise FerryFlowError(
                    _silent_failure(self.flow_file, make_process_error_message(command_obj))
                )
        self.name = content.get("name")
        self.flow_name = content.get("flow_name")
        self.metadata = content.get("metadata")
        self.additional_info = content.get("additional_info", {})
        return FerryDeployedFlow(deployer=self)


def _load_failure(flow_file, e):
    where = ""
    if isinstance(e, SyntaxError) and e.lineno:
        where = " (line %d)" % e.lineno
    what = getattr(e, "message", None) or str(e)
    return "Cannot load the flow file %s%s: %s: %s" % (
        flow_file,
        where,
        type(e).__name__,
        what,
    )


def _silent_failure(flow_file, output):
    """Why `python flow.py ferry create` can end without deploying and without a Ferry error:
    most often Metaflow never ran (no `__main__` block); its output says the rest."""
    return (
        "`python %s ferry create` ended without deploying and without an error from Ferry. "
        'If the file has no `if __name__ == "__main__":` block that starts the flow '
        "(`MyFlow()`), Metaflow never ran: add one. %s" % (flow_file, output)
    )


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _failure_of(doc):
    """The exception for the error `ferry create` wrote to `--error-file`."""
    kind, message = doc.get("kind"), doc.get("message", "")
    if kind == "ferry_not_found":
        return FerryNotFound(message)
    if kind == "invalid_flow" and doc.get("headline") not in (None, "The flow cannot be deployed"):
        return FerryFlowError("%s: %s" % (doc["headline"], message))
    return FerryCommandError(kind or "failed", message)
