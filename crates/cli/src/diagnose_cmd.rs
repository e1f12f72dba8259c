//! `sockeye-cli diagnose`: the probe chain for one environment, or several side by side.

use std::time::Duration;

use clap::Args;
use sockeye_core::diagnose::{self, DiagnoseOptions, Report, Status};

use crate::CliError;
use crate::conn_args::ConnArgs;
use crate::watch_text::Style;

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Every saved environment, side by side.
    #[arg(long, conflicts_with = "url")]
    pub all: bool,
    /// The full report as JSON (an array with --all or several --env).
    #[arg(long)]
    pub json: bool,
    /// Hold the WebSocket open longer (10 s unless --hold says otherwise).
    #[arg(long)]
    pub deep: bool,
    /// Seconds to hold the upgraded WebSocket open (default 1, or 10 with --deep).
    #[arg(long)]
    pub hold: Option<f64>,
    /// Timeout of each probe step, in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub probe_timeout: f64,
    /// Also probe http://127.0.0.1:PORT (run on the server host) and compare.
    #[arg(long)]
    pub local_port: Option<u16>,
    /// Ports to try when the configured one refuses (default 9000 and 9001).
    #[arg(long = "scan-port")]
    pub scan_ports: Vec<u16>,
    /// Stay subscribed this many seconds and report events per room.
    #[arg(long)]
    pub listen: Option<f64>,
    /// Post a real Raven message to this channel and time its arrival (writes a message).
    #[arg(long)]
    pub roundtrip: Option<String>,
    /// The socket URL the site's config uses (checks for mixed content).
    #[arg(long)]
    pub socket_url: Option<String>,
    /// Print the ready-to-paste fix of each finding (nginx, Traefik, common_site_config.json,
    /// commands), with the detected values filled in.
    #[arg(long)]
    pub fix: bool,
}

fn secs(s: f64, what: &str) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| CliError::Usage(format!("{what} must be a non-negative number of seconds")))
}

/// Every fix of every failed or warned probe, each snippet indented under its title.
fn print_fixes(r: &Report, style: &Style) {
    let mut any = false;
    for p in r.probes.iter().filter(|p| matches!(p.status, Status::Fail | Status::Warn)) {
        for f in &p.fixes {
            any = true;
            let cause = p.cause.map(|c| format!(" {c}")).unwrap_or_default();
            println!("\n  {} {}", style.paint("1", &format!("fix ({}{cause}):", p.name)), f.title);
            for line in f.snippet.lines() {
                println!("      {line}");
            }
        }
    }
    if !any {
        println!("\n  No fix to apply: nothing failed.");
    }
}

fn print_one(r: &Report, style: &Style, fix: bool) {
    println!(
        "{} {}  namespace {}  ({})",
        style.paint("1", &r.env),
        r.url,
        r.namespace,
        r.summary.deployment_type
    );
    for p in &r.probes {
        let colour = match p.status {
            Status::Pass => "32",
            Status::Warn => "33",
            Status::Fail => "31",
            Status::Skipped => "90",
        };
        let row = match (p.row, p.cause) {
            (Some(n), Some(c)) => format!(" [#{n} {c}]"),
            (Some(n), None) => format!(" [#{n}]"),
            (None, Some(c)) => format!(" [{c}]"),
            (None, None) => String::new(),
        };
        println!(
            "  {} {:<12} {:>6} ms  {}{}",
            style.paint(colour, p.status.mark()),
            p.name,
            p.duration_ms,
            p.evidence.join("; "),
            row
        );
    }
    println!("  {} ({} ms)", style.paint("1", &format!("→ {}", r.summary.hint)), r.total_ms);
    if fix {
        print_fixes(r, style);
    }
}

fn print_side_by_side(reports: &[Report], style: &Style) {
    let mut names: Vec<&str> = Vec::new();
    for r in reports {
        for p in &r.probes {
            if !names.contains(&p.name) {
                names.push(p.name);
            }
        }
    }
    print!("{:<12}", "");
    for r in reports {
        print!(" {:<18}", r.env);
    }
    println!();
    for n in names {
        print!("{n:<12}");
        for r in reports {
            let cell = r
                .probe(n)
                .map(|p| {
                    format!(
                        "{} {}",
                        p.status.mark(),
                        p.row.map(|x| format!("#{x}")).unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "".into());
            print!(" {:<18}", cell);
        }
        println!();
    }
    for r in reports {
        println!("{}: {}", style.paint("1", &r.env), r.summary.hint);
    }
}

pub async fn run(a: DiagnoseArgs) -> Result<i32, CliError> {
    if a.probe_timeout <= 0.0 {
        return Err(CliError::Usage("--probe-timeout must be positive".into()));
    }
    let configured_socket_url = match &a.socket_url {
        Some(u) => Some(
            url::Url::parse(u).map_err(|e| CliError::Usage(format!("--socket-url {u:?}: {e}")))?,
        ),
        None => None,
    };
    let (targets, config) = a.conn.targets(a.all).await?;
    let hold = match (a.hold, a.deep) {
        (Some(h), _) => secs(h, "--hold")?,
        (None, true) => Duration::from_secs(10),
        (None, false) => Duration::from_secs(1),
    };
    let base = DiagnoseOptions {
        probe_timeout: secs(a.probe_timeout, "--probe-timeout")?,
        hold,
        local_port: a.local_port,
        scan_ports: if a.scan_ports.is_empty() { vec![9000, 9001] } else { a.scan_ports.clone() },
        listen: a.listen.map(|s| secs(s, "--listen")).transpose()?,
        roundtrip: a.roundtrip.clone(),
        configured_socket_url,
        ..Default::default()
    };
    let runs = targets.into_iter().map(|(profile, target)| {
        let opts = DiagnoseOptions {
            deployment: profile.deployment_type(&config.settings.production_hosts),
            ..base.clone()
        };
        async move { diagnose::diagnose(&target, &opts).await }
    });
    let reports: Vec<Report> = futures_util::future::join_all(runs).await;
    let style = Style::detect();
    if a.json {
        let v = if reports.len() == 1 {
            serde_json::to_value(&reports[0])
        } else {
            serde_json::to_value(&reports)
        };
        println!("{}", serde_json::to_string_pretty(&v.unwrap_or_default()).unwrap_or_default());
    } else if reports.len() == 1 {
        print_one(&reports[0], &style, a.fix);
    } else {
        for r in &reports {
            print_one(r, &style, a.fix);
            println!();
        }
        print_side_by_side(&reports, &style);
    }
    Ok(reports.iter().map(Report::exit_code).max().unwrap_or(0))
}
