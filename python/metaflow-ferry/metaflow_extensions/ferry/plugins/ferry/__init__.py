"""Ferry for Metaflow: the `ferry` CLI group and the `ferry` Deployer.

Modules, one job each:
- `binary`: find the `ferry` command line and run it with `--json` (the one contract with Ferry);
- `errors`: the exceptions, one per way a call can fail;
- `options`: flow parameter values as `ferry trigger` options;
- `ferry_cli`: `python flow.py ferry …`;
- `ferry_deployer`, `ferry_deployer_objects`: `Deployer(...).ferry()`, `DeployedFlow`,
  `TriggeredRun`.
"""
