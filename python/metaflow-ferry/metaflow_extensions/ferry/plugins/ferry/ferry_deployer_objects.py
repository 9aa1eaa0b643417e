"""`DeployedFlow` and `TriggeredRun` for Ferry.

Both talk to the `ferry` binary by deployment name (`ferry trigger NAME`, `ferry status RUN_ID`,
…), so an object made by `Deployer(...).ferry().create()` and one found later with
`DeployedFlow.from_deployment(name, impl="ferry")` in another process behave the same, and
triggering one flow never sees another flow's parameters (Metaflow issue #2619): each trigger is
checked by Ferry against its own deployment's record.
"""

import json
import os
import sys
import time
from typing import ClassVar, Iterator, List, Optional

from metaflow.runner.deployer import DeployedFlow, TriggeredRun

from .binary import run_json
from .errors import FerryCommandError
from .options import trigger_options

# Step Functions' execution statuses, the words Ferry reports.
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class FerryDeploymentRef(object):
    """What the objects need of a deployer when there is no flow file at hand (a deployment
    found by name): its name, flow, metadata, and how to run `ferry`."""

    TYPE = "ferry"

    def __init__(self, name, flow_name, metadata=None, env=None, cwd=None, show_output=True):
        self.name = name
        self.flow_name = flow_name
        self.metadata = metadata
        self.env_vars = dict(os.environ if env is None else env)
        self.cwd = cwd or os.getcwd()
        self.show_output = show_output
        self.additional_info = {}


def _ferry(deployer, args):
    """Run `ferry --json ARGS…` in the deployer's environment; Ferry's messages on stderr are
    shown when the deployer shows output."""
    show = None
    if getattr(deployer, "show_output", True):

        def show(line):
            print(line, file=sys.stderr)

    return run_json(args, env=deployer.env_vars, cwd=deployer.cwd, on_stderr=show)


def _metadata_or_default(metadata):
    if metadata is not None:
        return metadata
    from metaflow.client.core import get_metadata

    return get_metadata()


class FerryTriggeredRun(TriggeredRun):
    """
    A run of a Ferry deployment (a state machine execution, run id `sfn-<execution name>`).
    """

    @property
    def run_id(self) -> str:
        """The run id, `sfn-<execution name>`."""
        return self.pathspec.split("/")[1]

    @property
    def status(self) -> Optional[str]:
        """
        The run's status, in Step Functions' words: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or
        ABORTED.

        Raises
        ------
        FerryCommandError
            Ferry cannot say (no stack reachable, the run does not exist).
        """
        return _ferry(self.deployer, ["status", self.run_id])["status"]

    @property
    def is_running(self) -> bool:
        """True while the run's status is RUNNING."""
        return self.status == "RUNNING"

    def wait_for_completion(self, check_interval: int = 5, timeout: Optional[int] = None):
        """
        Wait for the run to end (any status but RUNNING).

        Parameters
        ----------
        check_interval : int, default 5
            Frequency of checking for the run's status, in seconds.
        timeout : int, optional, default None
            Maximum time to wait, in seconds. If None, waits indefinitely.

        Raises
        ------
        TimeoutError
            If the run does not end within the timeout.
        """
        start_time = time.time()
        while self.is_running:
            if timeout is not None and (time.time() - start_time) > timeout:
                raise TimeoutError("Workflow did not complete within specified timeout.")
            time.sleep(check_interval)

    def terminate(self, **kwargs) -> bool:
        """
        Terminate the run (`ferry terminate`): its tasks are stopped and it ends ABORTED.

        Returns
        -------
        bool
            True if the run was stopped, False if it had ended already.

        Raises
        ------
        FerryCommandError
            Ferry cannot stop it (no stack reachable, no such run).
        """
        if kwargs:
            raise TypeError(
                "terminate() takes no options on Ferry (given: %s)" % ", ".join(kwargs)
            )
        try:
            _ferry(self.deployer, ["terminate", self.run_id])
        except FerryCommandError as e:
            if e.kind == "failed" and e.result and e.result.get("status") in STATUSES:
                return False  # it had ended: `result` is the run
            raise
        return True


class FerryDeployedFlow(DeployedFlow):
    """
    A flow deployed to Ferry (a deployment: a state machine, its schedule and its record).
    """

    TYPE: ClassVar[Optional[str]] = "ferry"

    @classmethod
    def from_deployment(cls, identifier: str, metadata: Optional[str] = None):
        """
        The deployment named `identifier`, as `ferry deployments` lists it (the state machine
        name: `HelloFlow`, `fraud_model.prod.ScoreFlow`).

        Parameters
        ----------
        identifier : str
            The deployment name (`DeployedFlow.name` of the object `create()` returned).
        metadata : str, optional, default None
            The metadata provider string for the runs; default: the current one.

        Returns
        -------
        FerryDeployedFlow

        Raises
        ------
        FerryCommandError
            No such deployment (kind `not_found`), or Ferry cannot be reached.
        """
        record = run_json(["describe", identifier])
        return cls._of_record(record, metadata)

    @classmethod
    def _of_record(cls, record, metadata=None):
        ref = FerryDeploymentRef(
            name=record["deployment"],
            flow_name=record["flow"],
            metadata=_metadata_or_default(metadata),
        )
        return cls(deployer=ref)

    @classmethod
    def list_deployed_flows(cls, flow_name: Optional[str] = None) -> Iterator["FerryDeployedFlow"]:
        """
        Every deployment on the Ferry stack (`ferry deployments`), or those of one flow.

        Parameters
        ----------
        flow_name : str, optional, default None
            Only the deployments of this flow (its class name, e.g. `HelloFlow`).

        Yields
        ------
        FerryDeployedFlow
        """
        for record in run_json(["deployments"]):
            if flow_name is None or record["flow"] == flow_name:
                yield cls._of_record(record)

    @classmethod
    def get_triggered_run(
        cls, identifier: str, run_id: str, metadata: Optional[str] = None
    ) -> FerryTriggeredRun:
        """
        A run of the deployment `identifier`.

        Parameters
        ----------
        identifier : str
            The deployment name.
        run_id : str
            The run id, `sfn-<execution name>`.
        metadata : str, optional, default None
            The metadata provider string; default: the current one.

        Raises
        ------
        FerryCommandError
            No such deployment or run (kind `not_found`), or the run is of another deployment.
        """
        deployed = cls.from_deployment(identifier, metadata)
        st = _ferry(deployed.deployer, ["status", run_id])
        if st.get("state_machine") not in (None, deployed.name):
            raise FerryCommandError(
                "not_found",
                "The run %s is a run of %s, not of %s." % (run_id, st["state_machine"], deployed.name),
            )
        return deployed._run(run_id)

    def _run(self, run_id):
        return FerryTriggeredRun(
            deployer=self.deployer,
            content=json.dumps(
                {
                    "metadata": self.deployer.metadata,
                    "pathspec": "/".join((self.deployer.flow_name, run_id)),
                    "name": run_id,
                }
            ),
        )

    @property
    def definition(self) -> Optional[dict]:
        """The state machine definition of an `only_json=True` create (nothing was deployed);
        None otherwise."""
        return getattr(self.deployer, "additional_info", {}).get("definition")

    @property
    def production_token(self) -> Optional[str]:
        """The deployment's production token (from its record), None if it cannot be read."""
        try:
            return _ferry(self.deployer, ["describe", self.deployer.name]).get("token")
        except FerryCommandError:
            return None

    def list_runs(self, states: Optional[List[str]] = None) -> List[FerryTriggeredRun]:
        """
        The runs of the deployment, newest first.

        Parameters
        ----------
        states : List[str], optional, default None
            Only runs in these states: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED.

        Raises
        ------
        ValueError
            An unknown or repeated state.
        """
        states = list(states or [])
        unknown = set(states) - set(STATUSES)
        if unknown:
            raise ValueError(
                "Invalid states found: %s. Valid states are: %s" % (unknown, set(STATUSES))
            )
        if len(states) != len(set(states)):
            raise ValueError("Duplicate states are not allowed")
        flags = ["--" + s.lower().replace("_", "-") for s in states]
        runs = _ferry(self.deployer, ["list-runs", self.deployer.name, *flags])
        return [self._run(r["run_id"]) for r in runs]

    def trigger(self, **kwargs) -> FerryTriggeredRun:
        """
        Start a run (`ferry trigger`).

        Parameters
        ----------
        **kwargs : Any
            The flow's parameters by name (`num=7`, `my_list=[3, 4]`); Ferry checks names,
            types and required parameters against this deployment.

        Returns
        -------
        FerryTriggeredRun

        Raises
        ------
        FerryCommandError
            A parameter is unknown, missing or mistyped (kind `usage`), the deployment does not
            exist, or Ferry cannot be reached.
        """
        out = _ferry(self.deployer, ["trigger", self.deployer.name, *trigger_options(kwargs)])
        return self._run(out["run_id"])

    def delete(self, **kwargs) -> bool:
        """
        Delete the deployment: its schedule, state machine and record (`ferry delete`).

        Parameters
        ----------
        authorize : str, optional, default None
            Authorize the deletion with a production token.

        Returns
        -------
        bool
            True if it was deleted.

        Raises
        ------
        FerryCommandError
            Refused (production token) or failed.
        """
        authorize = kwargs.pop("authorize", None)
        if kwargs:
            raise TypeError("delete() got unexpected options: %s" % ", ".join(kwargs))
        args = ["delete", self.deployer.name]
        if authorize:
            args += ["--authorize", authorize]
        _ferry(self.deployer, args)
        return True
