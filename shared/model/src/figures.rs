//! The AWS figures the model runs against: rate limits as token buckets, latencies as
//! log-normal distributions, and the request price. Each default names its source; figures
//! AWS does not publish are marked *assumption* (see `docs/aws-model.md`).

use serde::{Deserialize, Serialize};

/// A token bucket: `burst` tokens at most, refilled at `per_second`. `per_second` infinite
/// means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Bucket size (requests that may go at once).
    pub burst: f64,
    /// Sustained requests per second.
    pub per_second: f64,
}

impl Rate {
    /// No limit.
    pub const UNLIMITED: Rate = Rate {
        burst: f64::INFINITY,
        per_second: f64::INFINITY,
    };
}

/// A latency in seconds, log-normal with the given median and 90th percentile (both ≥ 0;
/// a median of 0 means always 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median, seconds.
    pub median_s: f64,
    /// 90th percentile, seconds (≥ the median).
    pub p90_s: f64,
}

impl Latency {
    /// Always 0.
    pub const ZERO: Latency = Latency {
        median_s: 0.0,
        p90_s: 0.0,
    };
}

/// Where Batch runs the containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    /// Fargate: the account's task launch bucket applies and every container starts cold.
    Fargate,
    /// EC2 instances already in the compute environment (no instance scale-up modelled).
    Ec2,
}

/// Every figure the simulation uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwsFigures {
    /// Which compute the figures describe.
    pub compute: Compute,
    /// Batch `SubmitJob`, per account: 50 per second, a hard quota ("can't be changed"),
    /// <https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html>. Modelled as a
    /// bucket of 50 refilled at 50/s.
    pub submit_job: Rate,
    /// Step Functions Standard state transitions: bucket 5,000, refill 1,500/s in us-east-1,
    /// us-west-2 and eu-west-1 (800 / 500 elsewhere),
    /// <https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html>.
    pub state_transitions: Rate,
    /// Child executions a distributed Map starts. AWS publishes no separate rate
    /// (<https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html> gives
    /// 10,000 parallel children); *assumption*: they draw on the `StartExecution` bucket,
    /// 1,300 refilled at 300/s (same quota page).
    pub child_execution_starts: Rate,
    /// Container launches. Fargate: 100 tasks at once, 20 per second sustained, per account,
    /// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html>; EC2:
    /// unlimited (instances already running).
    pub task_launches: Rate,
    /// One AWS API round trip (`SubmitJob`, `GetItem`, S3 `GetObject`): *assumption*, median
    /// 50 ms, p90 150 ms.
    pub api_call: Latency,
    /// Batch scheduling, `SUBMITTED` to `STARTING` once a job (or array child, or a dependent
    /// child whose dependency ended) is runnable: *assumption*, median 5 s, p90 15 s (the job
    /// states are <https://docs.aws.amazon.com/batch/latest/userguide/job_states.html>; AWS
    /// publishes no timing).
    pub batch_dispatch: Latency,
    /// `STARTING` to `RUNNING`: image pull and container start. *Assumption* for Fargate: median
    /// 40 s, p90 70 s (no AWS figure; ECS documents only the launch rate above); EC2 with
    /// cached images: median 3 s, p90 8 s.
    pub container_start: Latency,
    /// How late a `.sync` Task notices its Batch job ended: *assumption*, median 2 s, p90 5 s
    /// (<https://docs.aws.amazon.com/step-functions/latest/dg/connect-batch.html> describes the
    /// integration, not its latency).
    pub sync_notice: Latency,
    /// Step Functions Standard: $0.025 per 1,000 state transitions (us-east-1),
    /// <https://aws.amazon.com/step-functions/pricing/>.
    pub usd_per_transition: f64,
}

impl AwsFigures {
    /// The figures for Batch on Fargate in a big region (the default).
    pub fn fargate() -> Self {
        AwsFigures {
            compute: Compute::Fargate,
            submit_job: Rate {
                burst: 50.0,
                per_second: 50.0,
            },
            state_transitions: Rate {
                burst: 5_000.0,
                per_second: 1_500.0,
            },
            child_execution_starts: Rate {
                burst: 1_300.0,
                per_second: 300.0,
            },
            task_launches: Rate {
                burst: 100.0,
                per_second: 20.0,
            },
            api_call: Latency {
                median_s: 0.05,
                p90_s: 0.15,
            },
            batch_dispatch: Latency {
                median_s: 5.0,
                p90_s: 15.0,
            },
            container_start: Latency {
                median_s: 40.0,
                p90_s: 70.0,
            },
            sync_notice: Latency {
                median_s: 2.0,
                p90_s: 5.0,
            },
            usd_per_transition: 0.025 / 1_000.0,
        }
    }

    /// The figures for Batch on running EC2 instances in a big region.
    pub fn ec2() -> Self {
        AwsFigures {
            compute: Compute::Ec2,
            task_launches: Rate::UNLIMITED,
            container_start: Latency {
                median_s: 3.0,
                p90_s: 8.0,
            },
            ..Self::fargate()
        }
    }

    /// For `compute`.
    pub fn for_compute(compute: Compute) -> Self {
        match compute {
            Compute::Fargate => Self::fargate(),
            Compute::Ec2 => Self::ec2(),
        }
    }

    /// No limits and no latencies: what is left is the counting (tests compare it with the
    /// definition and the executor).
    pub fn instant() -> Self {
        AwsFigures {
            submit_job: Rate::UNLIMITED,
            state_transitions: Rate::UNLIMITED,
            child_execution_starts: Rate::UNLIMITED,
            task_launches: Rate::UNLIMITED,
            api_call: Latency::ZERO,
            batch_dispatch: Latency::ZERO,
            container_start: Latency::ZERO,
            sync_notice: Latency::ZERO,
            ..Self::fargate()
        }
    }
}
