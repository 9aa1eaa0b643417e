"""Registers Ferry with Metaflow's extension loader (`metaflow_extensions`).

- `CLIS_DESC`: the `ferry` command group on every flow (`python flow.py ferry create`, …).
- `DEPLOYER_IMPL_PROVIDERS_DESC`: the Deployer implementation of type `ferry`
  (`Deployer("flow.py").ferry()`, `DeployedFlow.from_deployment(..., impl="ferry")`).

This module is imported by every Metaflow process: it names classes only and imports nothing.
"""

CLIS_DESC = [("ferry", ".ferry.ferry_cli.cli")]

DEPLOYER_IMPL_PROVIDERS_DESC = [("ferry", ".ferry.ferry_deployer.FerryDeployer")]
