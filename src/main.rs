//! The `sandboxctl` command line. Arguments become validated settings, the
//! work is done by the library, and errors become exit codes here only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use sandboxctl::plan::{self, fsview::HostFs, Invocation, Plan};
use sandboxctl::policy::{self, Policy};
use sandboxctl::{host, integrity};

#[derive(Parser)]
#[command(
    name = "sandboxctl",
    version,
    about = "Run commands in a deny-by-default sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a command inside the sandbox.
    Run(RunArgs),
    /// Validate the policy and print the plan; with a command, say whether the pre-check allows it.
    Check(CheckArgs),
    /// Report what this kernel and user can enforce.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Write POLICY.sha256, the integrity manifest of the policy and this binary.
    Seal {
        #[arg(short = 'p', long = "policy")]
        policy: PathBuf,
    },
    /// Exit 0 only if POLICY.sha256 matches.
    Verify {
        #[arg(short = 'p', long = "policy")]
        policy: PathBuf,
    },
    /// Run a command as --simulate does and print the tightest policy that
    /// would have let it succeed (the command's own output goes to stderr).
    Learn(LearnArgs),
    /// Show recent runs from the audit log and what they were refused.
    Audit {
        /// Only records at or after this time (2026-11-21T10:00) or age (30m, 2h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Only runs that were denied something.
        #[arg(long)]
        denied: bool,
        /// The log (default: $XDG_STATE_HOME/sandboxctl/audit.jsonl).
        file: Option<PathBuf>,
    },
    /// Internal: the single-threaded stage inside the new namespaces.
    #[command(name = "__stage", hide = true)]
    Stage,
}

#[derive(Args)]
struct Common {
    /// Policy file (default: $SANDBOXCTL_POLICY, else the embedded default policy).
    #[arg(short = 'p', long = "policy")]
    policy: Option<PathBuf>,
    /// Working directory inside the sandbox (default: the current directory).
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<PathBuf>,
    /// Print the summary or the refusal as one JSON object on stderr.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Audit log (default: $XDG_STATE_HOME/sandboxctl/audit.jsonl).
    #[arg(long)]
    audit: Option<PathBuf>,
    /// Do not write an audit record.
    #[arg(long)]
    no_audit: bool,
    /// Wall-clock limit in seconds (overrides resources.timeout_s).
    #[arg(long)]
    timeout: Option<u64>,
    /// Refuse to run unless the policy has a matching manifest.
    #[arg(long)]
    require_seal: bool,
    /// Run with the host visible read-only and the workdir writable, and
    /// report everything the policy would have denied.
    #[arg(long)]
    simulate: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

#[derive(Args)]
struct LearnArgs {
    /// Base policy for what cannot be observed (blocked paths, exec rules, env).
    #[arg(short = 'p', long = "policy")]
    policy: Option<PathBuf>,
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<PathBuf>,
    #[arg(long)]
    timeout: Option<u64>,
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    common: Common,
    #[arg(last = true)]
    cmd: Vec<String>,
}

fn main() -> ExitCode {
    sandboxctl::sandbox::mark_start();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                let _ = e.print(); // --help, --version
                return ExitCode::SUCCESS;
            }
            // A usage error is a refusal: one `sandboxctl: error:` line
            // first (DESIGN.md section 1), then clap's usage hint.
            let rendered = e.render().to_string();
            let mut lines = rendered.lines();
            let first = lines.next().unwrap_or_default();
            eprintln!(
                "sandboxctl: error: usage: {}",
                first.trim_start_matches("error: ")
            );
            for l in lines {
                eprintln!("{l}");
            }
            return ExitCode::from(125);
        }
    };
    match cli.command {
        Command::Stage => ExitCode::from(sandboxctl::sandbox::stage_main()),
        Command::Check(args) => report(check(&args), args.common.json),
        Command::Run(args) => {
            let json = args.common.json;
            match run(args) {
                Ok(code) => ExitCode::from(code),
                Err(f) => report(Err(f), json),
            }
        }
        Command::Doctor { json } => {
            let report = sandboxctl::doctor::probe();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", report.human());
            }
            ExitCode::from(if report.all_ok() { 0 } else { 1 })
        }
        Command::Learn(args) => match learn(args) {
            Ok(code) => ExitCode::from(code),
            Err(f) => report(Err(f), false),
        },
        Command::Audit {
            since,
            denied,
            file,
        } => {
            let path = file
                .or_else(sandboxctl::audit::default_path)
                .unwrap_or_default();
            report(
                sandboxctl::audit::table(&path, since.as_deref(), denied).map(|t| print!("{t}")),
                false,
            )
        }
        Command::Seal { policy } => report(
            integrity::seal(&policy)
                .map(|msg| println!("{msg}"))
                .map_err(Failure::from),
            false,
        ),
        Command::Verify { policy } => report(
            integrity::verify(&policy)
                .map(|msg| println!("{msg}"))
                .map_err(Failure::from),
            false,
        ),
    }
}

use sandboxctl::failure::Failure;

/// Print a failure the way DESIGN.md section 1 says and map it to its code.
fn report(result: Result<(), Failure>, json: bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if json {
                eprintln!("{}", f.to_json());
            }
            eprintln!("{}", f.line());
            ExitCode::from(f.exit_code())
        }
    }
}

/// The policy file to use: `-p`, else `$SANDBOXCTL_POLICY`; `None` means
/// the embedded default policy.
fn policy_path(flag: Option<&Path>) -> Option<PathBuf> {
    let from_env = std::env::var_os("SANDBOXCTL_POLICY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    flag.map(Path::to_path_buf).or(from_env)
}

fn load_policy(path: Option<&Path>) -> Result<Policy, Failure> {
    match path {
        Some(path) => Ok(policy::load_file(path)?),
        None => Ok(policy::load_default()?),
    }
}

fn workdir(flag: Option<&Path>) -> Result<PathBuf, Failure> {
    let dir = match flag {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().map_err(|e| {
            Failure::setup(
                "workdir",
                format!("cannot read the current directory: {e}"),
                "run from an existing directory or pass -w DIR",
            )
        })?,
    };
    let real = dir.canonicalize().map_err(|e| {
        Failure::setup(
            "workdir",
            format!("{}: {e}", dir.display()),
            "pass an existing directory to -w",
        )
    })?;
    if !real.is_dir() {
        return Err(Failure::setup(
            "workdir",
            format!("{} is not a directory", real.display()),
            "pass a directory to -w",
        ));
    }
    Ok(real)
}

struct Prepared {
    plan: Plan,
    /// For a root invoker: /etc with host root's files owned by nobody.
    etc_view: Option<std::os::fd::OwnedFd>,
}

/// Load the policy (after checking its manifest, for `run`) and plan.
fn prepare(
    common: &Common,
    cmd: &[String],
    timeout: Option<u64>,
    protected: &[PathBuf],
    seal: Option<bool>,
) -> Result<Prepared, Failure> {
    let path = policy_path(common.policy.as_deref());
    // A tampered policy is refused for that, before anything parses it.
    let verified = match seal {
        Some(require) => integrity::check_before_run(path.as_deref(), require)?,
        None => None,
    };
    let policy = load_policy(path.as_deref())?;
    if let Some(sum) = verified {
        if sum != policy.sha256 {
            return Err(integrity::IntegrityError(format!(
                "policy {} changed while it was being read",
                policy.name
            ))
            .into());
        }
    }
    let workdir = workdir(common.workdir.as_deref())?;
    let user = host::current_user();
    let env = host::environment();
    let mut host = host::host_info();
    let mut etc_view = None;
    if user.uid == 0 {
        host.root_etc = match sandboxctl::sandbox::prepare_rootless_etc() {
            Ok(fd) => {
                etc_view = Some(fd);
                plan::RootEtc::Idmapped
            }
            Err(e) => plan::RootEtc::Unavailable(e.to_string()),
        };
    }
    let inv = Invocation {
        policy: &policy,
        command: cmd,
        workdir: &workdir,
        user: &user,
        env: &env,
        host: &host,
        timeout_override: timeout,
        protected,
    };
    let plan = plan::build(&inv, &HostFs)?;
    Ok(Prepared { plan, etc_view })
}

fn check(args: &CheckArgs) -> Result<(), Failure> {
    let Prepared { plan, .. } = prepare(&args.common, &args.cmd, None, &[], None)?;
    if args.common.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).unwrap_or_default()
        );
    } else {
        print!("{}", plan::render::human(&plan));
    }
    match &plan.precheck {
        Some(d) if !d.allowed => Err(Failure::Denied(Box::new(d.clone()))),
        _ => Ok(()),
    }
}

fn run(args: RunArgs) -> Result<u8, Failure> {
    if args.cmd.first().is_none_or(|c| c.is_empty()) {
        return Err(Failure::Setup {
            layer: "exec".into(),
            message: "command not found inside the sandbox: the command name is empty".into(),
            fix: String::new(),
            code: 127,
        });
    }
    // init's namespaces are built while the policy is read and planned;
    // any refusal below ends it before anything ran.
    let early = if args.simulate {
        None
    } else {
        sandboxctl::sandbox::start_early()
    };
    let audit = sandboxctl::audit::AuditLog::open(args.audit.as_deref(), args.no_audit)?;
    let protected: Vec<PathBuf> = audit.protected();
    let Prepared { plan, etc_view } = prepare(
        &args.common,
        &args.cmd,
        args.timeout,
        &protected,
        Some(args.require_seal),
    )?;
    if args.simulate {
        let mut outcome = simulate(&plan, &audit)?;
        print_simulation(&outcome.simulation, args.common.json);
        outcome.warnings.clear();
        let result = Ok(outcome);
        audit.record(&plan, &result);
        let outcome = result?;
        outcome.print_summary(args.common.json);
        return Ok(outcome.exit_code);
    }
    if let Some(d) = &plan.precheck {
        if !d.allowed {
            audit.denied(&plan, d);
            return Err(Failure::Denied(Box::new(d.clone())));
        }
    }
    let ahead = sandboxctl::sandbox::Ahead {
        init: early,
        etc_view,
    };
    let outcome = sandboxctl::sandbox::run(&plan, audit.sink(), ahead);
    audit.record(&plan, &outcome);
    match outcome {
        Ok(o) => {
            o.print_summary(args.common.json);
            Ok(o.exit_code)
        }
        Err(f) => Err(f),
    }
}

/// Run under the simulation plan and fold what was observed into the
/// would-be denials of the real plan.
fn simulate(
    plan: &Plan,
    audit: &sandboxctl::audit::AuditLog,
) -> Result<sandboxctl::sandbox::Outcome, Failure> {
    use sandboxctl::simulate::{self, Event, WouldDeny};
    let mut sim = simulate::simulation_plan(plan, &HostFs);
    // Limits are observed, not enforced (the time limit still applies).
    sim.limits.memory_mb = None;
    sim.limits.cpu_percent = None;
    sim.limits.processes = None;
    sim.limits.file_size_mb = None;
    let mut outcome = sandboxctl::sandbox::run_with(&sim, audit.sink(), true, Default::default())?;
    let mut events = std::mem::take(&mut outcome.events);
    for n in &outcome.network {
        if let (Some(host), Some(port)) = (n["host"].as_str(), n["port"].as_u64()) {
            events.push(Event::Network {
                host: host.to_string(),
                port: port as u16,
                would_allow: n["would_allow"] != serde_json::Value::Bool(false),
                reason: n["reason"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    let mut denials = Vec::new();
    if let Some(d) = plan.precheck.as_ref().filter(|d| !d.allowed) {
        denials.push(WouldDeny {
            layer: "exec".into(),
            what: d.matched.clone().unwrap_or_default(),
            rule: d.reason.clone(),
            count: 1,
        });
    }
    denials.extend(simulate::report(plan, &events, &HostFs));
    let mut limit = |what: String, rule: String| {
        denials.push(WouldDeny {
            layer: "resources".into(),
            what,
            rule,
            count: 1,
        })
    };
    if let (Some(m), Some(peak)) = (&plan.limits.memory_mb, outcome.peak_memory_bytes) {
        if peak > m.value * 1024 * 1024 {
            limit(
                format!("peak memory {} MiB", peak / (1024 * 1024)),
                format!("max_memory_mb {} [{}]", m.value, m.origin),
            );
        }
    }
    if let Some(p) = &plan.limits.processes {
        if outcome.processes_seen as u64 > p.value {
            limit(
                format!("{} processes", outcome.processes_seen),
                format!("max_processes {} [{}]", p.value, p.origin),
            );
        }
    }
    if outcome.ended_by == "timeout" {
        if let Some(t) = &plan.limits.timeout_s {
            limit(
                format!("ran past {} s", t.value),
                format!("timeout_s {} [{}]", t.value, t.origin),
            );
        }
    }
    outcome.simulation = denials;
    outcome.events = events;
    Ok(outcome)
}

fn print_simulation(denials: &[sandboxctl::simulate::WouldDeny], json: bool) {
    for d in denials {
        let times = if d.count > 1 {
            format!(" (x{})", d.count)
        } else {
            String::new()
        };
        eprintln!(
            "sandboxctl: simulate: would deny: {}: {}{times} [{}]",
            d.layer, d.what, d.rule
        );
    }
    if json {
        let v = serde_json::json!({ "sandboxctl": "simulation", "would_deny": denials });
        eprintln!("{v}");
    }
    eprintln!(
        "sandboxctl: simulate: {} distinct would-be denials",
        denials.len()
    );
}

fn learn(args: LearnArgs) -> Result<u8, Failure> {
    let common = Common {
        policy: args.policy.clone(),
        workdir: args.workdir.clone(),
        json: false,
    };
    let Prepared { plan, .. } = prepare(&common, &args.cmd, args.timeout, &[], Some(false))?;
    let base = load_policy(policy_path(common.policy.as_deref()).as_deref())?;
    let audit = sandboxctl::audit::AuditLog::open(None, true)?;
    // The command's own output goes to stderr: stdout carries the policy.
    // SAFETY: dup/dup2 on the standard descriptors.
    let saved = unsafe { libc::dup(1) };
    unsafe { libc::dup2(2, 1) };
    let outcome = simulate(&plan, &audit);
    // SAFETY: restoring stdout from the saved copy.
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    let outcome = outcome?;
    print_simulation(&outcome.simulation, false);
    let usage = sandboxctl::simulate::Usage {
        peak_memory_bytes: outcome.peak_memory_bytes,
        wall_ms: outcome.wall_ms,
        processes: outcome.processes_seen,
    };
    let text = sandboxctl::simulate::learned_policy(&base, &plan, &outcome.events, &usage, &HostFs);
    policy::load_str(&text, "<learned policy>", None).map_err(|e| {
        Failure::setup(
            "learn",
            format!("the learned policy does not load ({e}); this is a bug"),
            "",
        )
    })?;
    print!("{text}");
    if outcome.exit_code != 0 {
        eprintln!(
            "sandboxctl: warning: the observed run exited {}: the policy covers only what it did",
            outcome.exit_code
        );
    }
    Ok(outcome.exit_code)
}
