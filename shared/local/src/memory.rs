//! Memory limits of Batch jobs on the embedded stack, and what this machine can give a step.
//!
//! A job asks for `memory=` MiB: `ContainerOverrides.ResourceRequirements` `MEMORY`, else its
//! job definition's 4,096 (Metaflow's default, [`ferry_compile::options::DEFAULT_MEMORY_MIB`]).
//! AWS Batch runs it in a container whose cgroup holds it to that much: a job that uses more is
//! killed (exit code 137, status reason `OutOfMemoryError: Container killed due to memory
//! usage`). So that a step which needs more than it asked for fails here as it would there,
//! the runner holds each job attempt to its memory one of three ways ([`MemoryLimits`]):
//!
//! 1. **cgroup v2** (exact, as on Batch): each attempt runs in its own cgroup
//!    `<the stack's cgroup>/ferry-jobs/<job id>.<attempt>` with `memory.max` = the memory asked,
//!    no swap, `memory.oom.group` = 1 (the kernel kills the whole attempt, as it kills a
//!    container). Usable when the stack's cgroup has the `memory` controller and Ferry may
//!    enable it for child cgroups: `ferry up` moves itself into `<its cgroup>/ferry-stack` to
//!    do so, which works when it is alone in a delegated cgroup (e.g. `systemd-run --user
//!    --scope -p Delegate=yes ferry up`, or a container of its own with a writable
//!    `/sys/fs/cgroup`). An attempt killed there is reported with Batch's reason.
//! 2. **`RLIMIT_DATA`** (the fallback): every process of the attempt may map at most the memory
//!    asked plus a headroom of private writable memory (heap, anonymous `mmap`, thread stacks;
//!    Linux ≥ 4.7). A larger allocation fails: Python raises `MemoryError`, and the runner,
//!    finding it at the end of the attempt's stderr, reports the attempt as out of memory. The
//!    headroom is [`DATA_HEADROOM_BASE_MIB`] + [`DATA_HEADROOM_PER_CORE_MIB`] per core, because
//!    the limit counts reserved memory that is never touched. Measured on this project's
//!    machines: a trivial Metaflow step maps 32 MiB (`VmData`) and runs under a 48 MiB limit;
//!    `import numpy, pandas` and one matrix product map 121 MiB plus 41 MiB per BLAS thread
//!    (BLAS starts one per core) for 84 MiB resident; the task wrapper maps 3 MiB. (`RLIMIT_AS`
//!    behaves worse: it also counts code, shared libraries and reserved-but-inaccessible
//!    address space: the same wrapper needs 170 MiB of it.) The limit is per process, so an
//!    attempt made of several processes can use more in total.
//! 3. **off** (`ferry up --memory-limits off`): nothing is enforced; `ferry up`, every deploy
//!    and every job's stderr log say so.

use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_compile::limits::MachineCapacity;

/// Fixed part of the `RLIMIT_DATA` headroom above a job's memory, in MiB.
pub const DATA_HEADROOM_BASE_MIB: u64 = 256;
/// Per-core part of the `RLIMIT_DATA` headroom, in MiB (a BLAS thread per core maps ~41 MiB).
pub const DATA_HEADROOM_PER_CORE_MIB: u64 = 48;
/// AWS Batch's status reason for a job its container's memory limit killed.
pub const BATCH_OOM_REASON: &str = "OutOfMemoryError: Container killed due to memory usage";
/// How every out-of-memory status reason starts (AWS Batch's error name).
pub const OOM_REASON_PREFIX: &str = "OutOfMemoryError:";
/// Name of the cgroup, under the stack's own, that holds the job attempts' cgroups.
const JOBS_CGROUP: &str = "ferry-jobs";
/// Name of the leaf cgroup `ferry up` moves itself into (a cgroup with processes cannot hand
/// controllers to its children).
const STACK_CGROUP: &str = "ferry-stack";
/// How long an ended attempt's processes get to leave its cgroup before they are killed: more
/// than the runner's SIGTERM-to-SIGKILL grace (5 s).
const CGROUP_PATIENCE: Duration = Duration::from_secs(10);
/// How much of the end of an attempt's stderr is searched for an allocation failure.
const STDERR_TAIL_BYTES: u64 = 64 * 1024;

/// How `ferry up` limits job memory (`--memory-limits`, `FERRY_MEMORY_LIMITS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MemoryLimitMode {
    /// cgroup v2 when usable, else `RLIMIT_DATA`.
    #[default]
    Auto,
    /// cgroup v2, or `ferry up` fails saying why it cannot be used.
    Cgroup,
    /// `RLIMIT_DATA` with the headroom.
    Rlimit,
    /// Not enforced (warned about).
    Off,
}

impl std::str::FromStr for MemoryLimitMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(MemoryLimitMode::Auto),
            "cgroup" => Ok(MemoryLimitMode::Cgroup),
            "rlimit" => Ok(MemoryLimitMode::Rlimit),
            "off" => Ok(MemoryLimitMode::Off),
            other => Err(format!(
                "{other:?} is not a memory-limit mode: use auto, cgroup, rlimit or off"
            )),
        }
    }
}

/// `ferry up --memory-limits cgroup` on a machine where cgroup v2 cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("memory limits by cgroup v2 were asked for, but {0}; use --memory-limits auto or rlimit")]
pub struct CgroupUnavailable(pub String);

/// How the runner holds job attempts to their memory (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryLimits {
    /// Each attempt in its own cgroup v2 under `jobs`, with `memory.max`.
    Cgroup {
        /// The cgroup directory holding the attempts' cgroups.
        jobs: PathBuf,
    },
    /// `RLIMIT_DATA` = memory + `headroom_mib` for every process of an attempt.
    DataLimit {
        /// MiB allowed above the memory asked.
        headroom_mib: u64,
        /// Why cgroup v2 is not used, when it was looked for.
        no_cgroup: Option<String>,
    },
    /// Not enforced.
    Off {
        /// Why.
        why: String,
    },
}

impl MemoryLimits {
    /// The limits `mode` asks for on this machine. Errors only for [`MemoryLimitMode::Cgroup`]
    /// when cgroup v2 cannot be used (with the reason). May move this process into
    /// `<its cgroup>/ferry-stack` (cgroup v2, see the module documentation).
    pub fn detect(mode: MemoryLimitMode) -> Result<Self, CgroupUnavailable> {
        match mode {
            MemoryLimitMode::Off => Ok(MemoryLimits::Off {
                why: "turned off with --memory-limits off (FERRY_MEMORY_LIMITS=off)".into(),
            }),
            MemoryLimitMode::Rlimit => Ok(MemoryLimits::data_limit(None)),
            MemoryLimitMode::Cgroup => cgroup::setup()
                .map(|jobs| MemoryLimits::Cgroup { jobs })
                .map_err(CgroupUnavailable),
            MemoryLimitMode::Auto => Ok(match cgroup::setup() {
                Ok(jobs) => MemoryLimits::Cgroup { jobs },
                Err(why) => MemoryLimits::data_limit(Some(why)),
            }),
        }
    }

    /// `RLIMIT_DATA` with this machine's headroom ([`data_headroom_mib`]).
    pub fn data_limit(no_cgroup: Option<String>) -> Self {
        MemoryLimits::DataLimit {
            headroom_mib: data_headroom_mib(cores()),
            no_cgroup,
        }
    }

    /// Why job memory is not enforced; `None` when it is.
    pub fn not_enforced(&self) -> Option<&str> {
        match self {
            MemoryLimits::Off { why } => Some(why),
            _ => None,
        }
    }

    /// One line for people: how job memory is limited.
    pub fn describe(&self) -> String {
        match self {
            MemoryLimits::Cgroup { jobs } => format!(
                "each job attempt in its own cgroup v2 under {} with memory.max = its memory (as AWS Batch)",
                jobs.display()
            ),
            MemoryLimits::DataLimit {
                headroom_mib,
                no_cgroup,
            } => {
                let mut s = format!(
                    "RLIMIT_DATA = a job's memory + {headroom_mib} MiB per process (an allocation past it fails)"
                );
                if let Some(why) = no_cgroup {
                    s.push_str(&format!("; cgroup v2 not used: {why}"));
                }
                s
            }
            MemoryLimits::Off { why } => format!("not enforced ({why})"),
        }
    }

    /// Set up the limit of one attempt named `name` (`<job id>.<attempt>`) asking for
    /// `memory_mib`: for cgroup v2, create its cgroup and open its `cgroup.procs`.
    pub(crate) fn for_attempt(&self, name: &str, memory_mib: u64) -> io::Result<AttemptMemory> {
        let bytes = memory_mib.saturating_mul(1024 * 1024);
        let enforcement = match self {
            MemoryLimits::Cgroup { jobs } => {
                let dir = jobs.join(name);
                match std::fs::create_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
                std::fs::write(dir.join("memory.max"), bytes.to_string())?;
                // Batch gives containers no swap by default; absent without swap accounting.
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                // Out of memory ends the whole attempt, as it ends a container.
                let _ = std::fs::write(dir.join("memory.oom.group"), "1");
                let procs = std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join("cgroup.procs"))?;
                Enforcement::Cgroup {
                    dir,
                    procs: procs.into(),
                }
            }
            MemoryLimits::DataLimit { headroom_mib, .. } => {
                let limit = bytes.saturating_add(headroom_mib.saturating_mul(1024 * 1024));
                // A lower hard limit already in force stays (raising it needs privileges).
                let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_DATA)
                    .map(|(_, hard)| hard)
                    .unwrap_or(nix::sys::resource::RLIM_INFINITY);
                Enforcement::Data {
                    bytes: limit.min(hard),
                    headroom_mib: *headroom_mib,
                }
            }
            MemoryLimits::Off { why } => Enforcement::Off { why: why.clone() },
        };
        Ok(AttemptMemory {
            memory_mib,
            enforcement,
        })
    }
}

/// The `RLIMIT_DATA` headroom on a machine with `cores` cores, in MiB.
pub fn data_headroom_mib(cores: usize) -> u64 {
    DATA_HEADROOM_BASE_MIB + DATA_HEADROOM_PER_CORE_MIB * cores.max(1) as u64
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// How one attempt is held to its memory.
enum Enforcement {
    Cgroup { dir: PathBuf, procs: OwnedFd },
    Data { bytes: u64, headroom_mib: u64 },
    Off { why: String },
}

/// The memory limit of one job attempt, from before its process starts to after it ended.
pub(crate) struct AttemptMemory {
    memory_mib: u64,
    enforcement: Enforcement,
}

impl AttemptMemory {
    /// What the child process runs between `fork` and `exec` to put itself under the limit:
    /// only `write(2)` (joining the cgroup) and `setrlimit(2)`, which are async-signal-safe.
    pub(crate) fn child_setup(&self) -> impl FnMut() -> io::Result<()> + Send + Sync + 'static {
        let procs = match &self.enforcement {
            Enforcement::Cgroup { procs, .. } => Some(procs.as_raw_fd()),
            _ => None,
        };
        let data = match &self.enforcement {
            Enforcement::Data { bytes, .. } => Some(*bytes),
            _ => None,
        };
        move || {
            if let Some(fd) = procs {
                // SAFETY: the descriptor is owned by the AttemptMemory, which outlives the
                // spawn; it is only written to ("0" moves the writing process).
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                nix::unistd::write(fd, b"0").map_err(io::Error::from)?;
            }
            if let Some(bytes) = data {
                nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_DATA,
                    bytes,
                    bytes,
                )
                .map_err(io::Error::from)?;
            }
            Ok(())
        }
    }

    /// A line for the attempt's stderr log when its memory is not enforced.
    pub(crate) fn warning(&self) -> Option<String> {
        match &self.enforcement {
            Enforcement::Off { why } => Some(format!(
                "ferry: warning: this job asked for {} MiB of memory, which is not enforced on this machine ({why}); on AWS Batch it is killed if it uses more\n",
                self.memory_mib
            )),
            _ => None,
        }
    }

    /// After the attempt ended: the status reason when it ran out of memory (`failed`: it
    /// exited non-zero or by a signal; `stderr`: its stderr log).
    pub(crate) fn out_of_memory(&self, failed: bool, stderr: &Path) -> Option<String> {
        let memory_mib = self.memory_mib;
        match &self.enforcement {
            Enforcement::Cgroup { dir, .. } => {
                let events = std::fs::read_to_string(dir.join("memory.events")).unwrap_or_default();
                (oom_kills(&events) > 0).then(|| {
                    format!(
                        "{BATCH_OOM_REASON} (the job asked for {memory_mib} MiB: cgroup memory.max)"
                    )
                })
            }
            Enforcement::Data {
                bytes,
                headroom_mib,
            } => {
                if !failed {
                    return None;
                }
                let tail = read_tail(stderr, STDERR_TAIL_BYTES).unwrap_or_default();
                allocation_failed(&tail).then(|| {
                    format!(
                        "{OOM_REASON_PREFIX} an allocation failed: the job asked for {memory_mib} MiB of memory (its processes may map {} MiB each: RLIMIT_DATA, {memory_mib} MiB + {headroom_mib} MiB headroom)",
                        bytes / (1024 * 1024)
                    )
                })
            }
            Enforcement::Off { .. } => None,
        }
    }
}

impl Drop for AttemptMemory {
    /// Removes the attempt's cgroup (from a thread: it waits for the processes to go, longer
    /// than the runner's SIGTERM grace before it kills them).
    fn drop(&mut self) {
        if let Enforcement::Cgroup { dir, .. } = &self.enforcement {
            let dir = dir.clone();
            std::thread::spawn(move || cgroup::remove(&dir, CGROUP_PATIENCE));
        }
    }
}

/// The `oom_kill` count of a cgroup v2 `memory.events` file.
fn oom_kills(events: &str) -> u64 {
    events
        .lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == "oom_kill")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether a process's last stderr says an allocation failed: Python's `MemoryError`, C's
/// `ENOMEM` text, C++'s `std::bad_alloc`, Rust's allocation failure message.
fn allocation_failed(stderr_tail: &str) -> bool {
    stderr_tail.lines().any(|l| {
        let l = l.trim();
        l.starts_with("MemoryError")
            || l.contains("Cannot allocate memory")
            || l.contains("std::bad_alloc")
            || (l.starts_with("memory allocation of") && l.ends_with("failed"))
    })
}

/// The last `max` bytes of a file, as text.
fn read_tail(path: &Path, max: u64) -> io::Result<String> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What this machine can give a step, for the deploy-time warnings: its memory (the smaller of
/// `MemTotal` and the memory limit of the cgroup `ferry up` runs in), its GPUs (NVIDIA device
/// files `/dev/nvidia<N>`), and whether job memory is enforced.
pub fn machine_capacity(limits: &MemoryLimits) -> MachineCapacity {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = mem_total_mib(&meminfo);
    let cgroup_limit = cgroup::own_memory_limit_mib();
    let memory_mib = match (total, cgroup_limit) {
        (Some(t), Some(c)) => t.min(c),
        (t, c) => t.or(c).unwrap_or(0),
    };
    let gpus = std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_prefix("nvidia"))
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .count() as u32
        })
        .unwrap_or(0);
    MachineCapacity {
        memory_mib,
        gpus,
        memory_not_enforced: limits.not_enforced().map(str::to_string),
    }
}

/// `MemTotal` of `/proc/meminfo` in MiB.
fn mem_total_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// cgroup v2: finding this process's cgroup, preparing the jobs' parent, removing a job's.
mod cgroup {
    use std::io;
    use std::path::{Path, PathBuf};

    use super::{Duration, JOBS_CGROUP, STACK_CGROUP};

    /// Mount point and root of the cgroup v2 hierarchy in a `/proc/self/mountinfo` text.
    pub(super) fn v2_mount(mountinfo: &str) -> Option<(PathBuf, String)> {
        mountinfo.lines().find_map(|line| {
            let (fields, rest) = line.split_once(" - ")?;
            if rest.split_whitespace().next()? != "cgroup2" {
                return None;
            }
            let mut f = fields.split_whitespace();
            let root = f.nth(3)?;
            let mount = f.next()?;
            Some((PathBuf::from(unescape(mount)), unescape(root)))
        })
    }

    /// mountinfo escapes space, tab, newline and backslash as octal (`\040`…).
    fn unescape(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\'
                && i + 3 < b.len()
                && (b'0'..=b'3').contains(&b[i + 1])
                && b[i + 2..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
            {
                out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
                i += 4;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// This process's cgroup v2 path (the `0::<path>` line of `/proc/self/cgroup`).
    pub(super) fn own_path(proc_cgroup: &str) -> Option<String> {
        proc_cgroup
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(str::to_string)
    }

    /// The directory of cgroup `path` under a cgroup2 mount at `mount` whose root is `root`.
    pub(super) fn dir_of(mount: &Path, root: &str, path: &str) -> Option<PathBuf> {
        let rel = if root == "/" {
            path
        } else {
            path.strip_prefix(root)?
        };
        let rel = rel.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return None;
        }
        Some(if rel.is_empty() {
            mount.to_path_buf()
        } else {
            mount.join(rel)
        })
    }

    /// This process's cgroup v2 directory.
    fn own_dir() -> Result<PathBuf, String> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
        let (mount, root) =
            v2_mount(&mountinfo).ok_or("no cgroup v2 (unified) hierarchy is mounted")?;
        let cgroup = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("reading /proc/self/cgroup: {e}"))?;
        let path = own_path(&cgroup).ok_or("this process is in no cgroup v2 (cgroup v1 only)")?;
        dir_of(&mount, &root, &path).ok_or_else(|| {
            format!(
                "the cgroup {path} is outside the cgroup v2 mount at {}",
                mount.display()
            )
        })
    }

    fn controllers(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file)).unwrap_or_default()
    }

    fn has_memory(list: &str) -> bool {
        list.split_whitespace().any(|c| c == "memory")
    }

    fn enable_memory(dir: &Path) -> io::Result<()> {
        if has_memory(&controllers(dir, "cgroup.subtree_control")) {
            return Ok(());
        }
        std::fs::write(dir.join("cgroup.subtree_control"), "+memory")
    }

    fn mkdir(dir: &Path) -> io::Result<()> {
        match std::fs::create_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// Prepare `<own>/ferry-jobs` with the memory controller for its children, moving this
    /// process into `<own>/ferry-stack` when its cgroup must be emptied for that. `Err`: why
    /// cgroup v2 cannot be used.
    pub(super) fn setup() -> Result<PathBuf, String> {
        let own = own_dir()?;
        if !has_memory(&controllers(&own, "cgroup.controllers")) {
            return Err(format!(
                "the memory controller is not available in the cgroup {}",
                own.display()
            ));
        }
        let pid = std::process::id().to_string();
        if let Err(first) = enable_memory(&own) {
            // A cgroup with processes in it cannot give controllers to its children: move this
            // process into a leaf of its own first.
            let leaf = own.join(STACK_CGROUP);
            let moved = mkdir(&leaf).and_then(|()| std::fs::write(leaf.join("cgroup.procs"), &pid));
            if let Err(e) = moved {
                let _ = std::fs::remove_dir(&leaf);
                return Err(format!(
                    "the cgroup {} cannot be changed ({first}; moving into {}: {e}): run `ferry up` in a delegated cgroup of its own, e.g. `systemd-run --user --scope -p Delegate=yes ferry up`",
                    own.display(),
                    leaf.display()
                ));
            }
            if let Err(e) = enable_memory(&own) {
                let _ = std::fs::write(own.join("cgroup.procs"), &pid);
                let _ = std::fs::remove_dir(&leaf);
                return Err(format!(
                    "the cgroup {} holds other processes, so its children cannot get the memory controller ({e}): run `ferry up` in a delegated cgroup of its own, e.g. `systemd-run --user --scope -p Delegate=yes ferry up`",
                    own.display()
                ));
            }
        }
        let jobs = own.join(JOBS_CGROUP);
        mkdir(&jobs).map_err(|e| format!("creating the cgroup {}: {e}", jobs.display()))?;
        enable_memory(&jobs)
            .map_err(|e| format!("enabling the memory controller in {}: {e}", jobs.display()))?;
        // Attempts a previous stack left behind (it was killed): empty ones go.
        if let Ok(entries) = std::fs::read_dir(&jobs) {
            for e in entries.filter_map(Result::ok) {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        Ok(jobs)
    }

    /// Remove an attempt's cgroup once its processes are gone: they get `patience` to exit
    /// (a terminated job's SIGTERM grace runs meanwhile), then what is left is killed
    /// (`cgroup.kill`) and removal is retried for 2 s more.
    pub(super) fn remove(dir: &Path, patience: Duration) {
        let gone = |wait: Duration| {
            let step = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => return true,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
                    Err(_) if waited < wait => {
                        std::thread::sleep(step);
                        waited += step;
                    }
                    Err(_) => return false,
                }
            }
        };
        if gone(patience) {
            return;
        }
        let _ = std::fs::write(dir.join("cgroup.kill"), "1");
        if !gone(Duration::from_secs(2)) {
            tracing::warn!(cgroup = %dir.display(), "could not remove a job attempt's cgroup");
        }
    }

    /// The memory limit of the cgroup this process runs in, in MiB, if any: cgroup v2
    /// `memory.max`, else cgroup v1 `memory.limit_in_bytes`.
    pub(super) fn own_memory_limit_mib() -> Option<u64> {
        let parse = |s: String| s.trim().parse::<u64>().ok().map(|b| b / (1024 * 1024));
        if let Ok(dir) = own_dir()
            && let Some(mib) = std::fs::read_to_string(dir.join("memory.max"))
                .ok()
                .and_then(parse)
        {
            return Some(mib);
        }
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let path = cgroup.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            ctrls.split(',').any(|c| c == "memory").then_some(path)
        })?;
        let dir = dir_of(Path::new("/sys/fs/cgroup/memory"), "/", path)?;
        std::fs::read_to_string(dir.join("memory.limit_in_bytes"))
            .ok()
            .and_then(parse)
            // "No limit" is a huge number.
            .filter(|mib| *mib < (1 << 40))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!("auto".parse(), Ok(MemoryLimitMode::Auto));
        assert_eq!("RLIMIT".parse(), Ok(MemoryLimitMode::Rlimit));
        assert_eq!("off".parse(), Ok(MemoryLimitMode::Off));
        assert_eq!("cgroup".parse(), Ok(MemoryLimitMode::Cgroup));
        let e = "v1".parse::<MemoryLimitMode>().unwrap_err();
        assert!(e.contains("auto, cgroup, rlimit or off"), "{e}");
    }

    #[test]
    fn headroom_grows_with_cores() {
        assert_eq!(data_headroom_mib(2), 352);
        assert_eq!(data_headroom_mib(0), data_headroom_mib(1));
        assert_eq!(data_headroom_mib(16), 256 + 16 * 48);
    }

    #[test]
    fn finds_the_cgroup_v2_mount_and_own_cgroup() {
        let mountinfo = "\
35 24 0:30 / /sys/fs/cgroup/memory rw,relatime shared:13 - cgroup cgroup rw,memory
40 24 0:35 / /sys/fs/cgroup/uni\\040fied rw,relatime shared:18 - cgroup2 cgroup2 rw
";
        let (mount, root) = cgroup::v2_mount(mountinfo).unwrap();
        assert_eq!(mount, PathBuf::from("/sys/fs/cgroup/uni fied"));
        assert_eq!(root, "/");
        assert!(cgroup::v2_mount("35 24 0:30 / /x rw - cgroup cgroup rw,memory\n").is_none());

        let own = cgroup::own_path("4:memory:/a\n0::/user.slice/ferry.scope\n").unwrap();
        assert_eq!(own, "/user.slice/ferry.scope");
        assert!(cgroup::own_path("4:memory:/a\n").is_none());
        assert_eq!(
            cgroup::dir_of(Path::new("/sys/fs/cgroup"), "/", &own).unwrap(),
            PathBuf::from("/sys/fs/cgroup/user.slice/ferry.scope")
        );
        assert_eq!(
            cgroup::dir_of(Path::new("/sys/fs/cgroup"), "/", "/").unwrap(),
            PathBuf::from("/sys/fs/cgroup")
        );
        // A mount of a sub-tree (root /a) holds only the cgroups under /a.
        assert_eq!(
            cgroup::dir_of(Path::new("/cg"), "/a", "/a/b").unwrap(),
            PathBuf::from("/cg/b")
        );
        assert!(cgroup::dir_of(Path::new("/cg"), "/a", "/c").is_none());
        assert!(cgroup::dir_of(Path::new("/cg"), "/", "/a/../../etc").is_none());
    }

    #[test]
    fn reads_oom_kills_and_allocation_failures() {
        assert_eq!(
            oom_kills("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n"),
            1
        );
        assert_eq!(oom_kills("low 0\noom 0\noom_kill 0\n"), 0);
        assert_eq!(oom_kills(""), 0);
        let python = "Traceback (most recent call last):\n  File \"flow.py\", line 9, in start\n    x = bytearray(1 << 30)\nMemoryError\n";
        assert!(allocation_failed(python));
        assert!(allocation_failed(
            "memory allocation of 1073741824 bytes failed\n"
        ));
        assert!(allocation_failed(
            "terminate called after throwing an instance of 'std::bad_alloc'\n"
        ));
        assert!(allocation_failed(
            "OSError: [Errno 12] Cannot allocate memory\n"
        ));
        assert!(!allocation_failed(
            "Traceback (most recent call last):\nValueError: no MemoryError here\n"
        ));
    }

    #[test]
    fn mem_total_is_read_in_mib() {
        assert_eq!(
            mem_total_mib("MemTotal:       24683520 kB\nMemFree: 1 kB\n"),
            Some(24105)
        );
        assert_eq!(mem_total_mib("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn the_tail_of_a_long_log_is_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("err");
        let mut text = "x".repeat(100_000);
        text.push_str("\nMemoryError\n");
        std::fs::write(&p, &text).unwrap();
        let tail = read_tail(&p, 1024).unwrap();
        assert_eq!(tail.len(), 1024);
        assert!(allocation_failed(&tail));
    }
}
