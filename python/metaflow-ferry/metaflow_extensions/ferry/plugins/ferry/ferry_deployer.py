"""`Deployer("flow.py").ferry()`: Metaflow's Deployer API for Ferry.

`create()` runs `python flow.py [top-level options] ferry create …` as Metaflow's other
deployers do (so `Deployer(..., branch="b")`, `environment=…`, configs work the same); the
`DeployedFlow` and `TriggeredRun` it returns talk to the `ferry` binary directly by deployment
name (`ferry_deployer_objects`). This module is imported by every Metaflow process that resolves
deployers, so it imports the objects module only when used.
"""

import json
import os
import tempfile
from typing import Any, ClassVar, Dict, Optional, Type

from metaflow.runner.deployer_impl import DeployerImpl

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

        with tempfile.TemporaryDirectory() as scratch:
            error_file = os.path.join(scratch, "error.json")
            try:
                return self._create(FerryDeployedFlow, error_file=error_file, **kwargs)
            except RuntimeError as e:
                failure = _read_failure(error_file)
                if failure is None:
                    failure = FerryFlowError(_silent_failure(self.flow_file, e))
                raise failure from None


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


def _silent_failure(flow_file, e):
    """Why `python flow.py ferry create` can end without deploying and without a Ferry error:
    most often Metaflow never ran (no `__main__` block); its output says the rest."""
    return (
        "`python %s ferry create` ended without deploying and without an error from Ferry. "
        'If the file has no `if __name__ == "__main__":` block that starts the flow '
        "(`MyFlow()`), Metaflow never ran: add one. The command's output:\n%s"
        % (flow_file, e)
    )


def _read_failure(path):
    """The error `ferry create` wrote to `--error-file`, as the exception to raise here."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    kind, message = doc.get("kind"), doc.get("message", "")
    if kind == "ferry_not_found":
        return FerryNotFound(message)
    if kind == "invalid_flow" and doc.get("headline") not in (None, "The flow cannot be deployed"):
        return FerryFlowError("%s: %s" % (doc["headline"], message))
    return FerryCommandError(kind or "failed", message)
