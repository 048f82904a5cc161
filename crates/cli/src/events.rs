//! Change events on the command line: the `[events]` / `[sites.NAME.events]` rules and the
//! `[[webhooks]]` of `haul.toml` turned into the store's options and the dispatcher's
//! targets, the dispatcher of `haul crawl` (started with the store, drained at the end), how
//! a crawl ended, and `haul events`, which lists the store's events.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use haul_events::{DeliveryOptions, Dispatcher, Target, Webhook};
use haul_output::events::parse_duration;
use haul_output::{CrawlEnd, EventFilter, EventKind, EventRules, OutputFormat, StoreOptions};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use url::Url;

/// The environment variable `--webhook`'s secret comes from unless `--webhook-secret-env`
/// names another.
pub(crate) const WEBHOOK_SECRET_ENV: &str = "HAUL_WEBHOOK_SECRET";

/// Event rules as `haul.toml` writes them; unset keys take the global (or built-in) value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSettings {
    /// Smallest absolute price change that is an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_change: Option<f64>,
    /// Smallest price change, in percent, that is an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_percent: Option<f64>,
    /// After a price event, a reversal is silent this long (`6h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cooldown: Option<String>,
    /// Events per product per UTC day, at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) daily_cap: Option<u32>,
}

/// `[events]`: the global rules and the delivery settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventSettings {
    /// Smallest absolute price change that is an event [default: none].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_change: Option<f64>,
    /// Smallest price change, in percent [default: 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_percent: Option<f64>,
    /// Cool-down after a price event [default: 6h].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cooldown: Option<String>,
    /// Events per product per UTC day [default: 5].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) daily_cap: Option<u32>,
    /// JSON Lines file (`-`: standard output) that gets every event (`--events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<PathBuf>,
    /// Attempts per webhook delivery [default: 6].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attempts: Option<u32>,
    /// First retry delay, in milliseconds, doubled per attempt [default: 1000].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retry_ms: Option<u64>,
    /// Where events that failed their last attempt go [default: STORE.dead-letter.jsonl].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dead_letter: Option<PathBuf>,
    /// Seconds `haul crawl` waits at the end for pending deliveries [default: 30].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) drain_secs: Option<u64>,
}

/// `[[webhooks]]`: a URL and the environment variable holding its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSettings {
    /// Where events are posted.
    pub(crate) url: Url,
    /// The environment variable with the signing secret (never the secret itself).
    #[serde(default = "default_secret_env")]
    pub(crate) secret_env: String,
}

fn default_secret_env() -> String {
    WEBHOOK_SECRET_ENV.into()
}

fn decimal(key: &str, v: Option<f64>) -> anyhow::Result<Option<Decimal>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 => Decimal::from_str(&v.to_string())
            .map(Some)
            .with_context(|| format!("{key}: {v} is not a decimal number")),
        Some(v) => bail!("{key} must be a number of at least 0, got {v}"),
    }
}

/// `base` with the keys `prefix.*` of `s` laid over it, checked (errors name the key).
fn rules(
    prefix: &str,
    base: &EventRules,
    min_change: Option<f64>,
    min_percent: Option<f64>,
    cooldown: Option<&str>,
    daily_cap: Option<u32>,
) -> anyhow::Result<EventRules> {
    let mut r = base.clone();
    if min_change.is_some() {
        r.min_change = decimal(&format!("{prefix}.min_change"), min_change)?;
    }
    if min_percent.is_some() {
        r.min_percent = decimal(&format!("{prefix}.min_percent"), min_percent)?;
    }
    if let Some(c) = cooldown {
        r.cooldown = parse_duration(c).map_err(|e| anyhow::anyhow!("{prefix}.cooldown: {e}"))?;
    }
    if let Some(cap) = daily_cap {
        if cap == 0 {
            bail!("{prefix}.daily_cap must be at least 1");
        }
        r.daily_cap = cap;
    }
    Ok(r)
}

/// The store's event rules from `[events]` and each `[sites.NAME.events]`.
pub(crate) fn store_options(settings: &crate::settings::Settings) -> anyhow::Result<StoreOptions> {
    let e = &settings.events;
    let global = rules(
        "events",
        &EventRules::default(),
        e.min_change,
        e.min_percent,
        e.cooldown.as_deref(),
        e.daily_cap,
    )?;
    if e.attempts == Some(0) {
        bail!("events.attempts must be at least 1");
    }
    let mut opts = StoreOptions {
        rules: global.clone(),
        ..StoreOptions::default()
    };
    for (site, s) in &settings.sites {
        if let Some(r) = &s.events {
            let site_rules = rules(
                &format!("sites.{site}.events"),
                &global,
                r.min_change,
                r.min_percent,
                r.cooldown.as_deref(),
                r.daily_cap,
            )?;
            opts.sites.insert(site.clone(), site_rules);
        }
    }
    Ok(opts)
}

/// The delivery flags of `haul crawl`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeliveryArgs {
    /// Also write every change event to this JSON Lines file (`-`: standard output); needs a
    /// SQLite store (-o FILE.db) [default: haul.toml's events.file].
    #[arg(long = "events", value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// POST every change event to this URL, signed with HMAC-SHA256 (X-Haul-Signature);
    /// repeatable; added to haul.toml's [[webhooks]].
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<Url>,
    /// The environment variable holding the --webhook secret.
    #[arg(long, value_name = "NAME", default_value = WEBHOOK_SECRET_ENV)]
    pub webhook_secret_env: String,
}

/// The targets the settings and flags configure (the secrets read from the environment).
pub(crate) fn targets(
    settings: &crate::settings::Settings,
    args: &DeliveryArgs,
) -> anyhow::Result<Vec<Target>> {
    let mut out = Vec::new();
    match args.events.as_ref().or(settings.events.file.as_ref()) {
        Some(p) if p == Path::new("-") => out.push(Target::Stdout),
        Some(p) => out.push(Target::File(p.clone())),
        None => {}
    }
    let hooks = (settings
        .webhooks
        .iter()
        .map(|w| (&w.url, w.secret_env.as_str())))
    .chain(
        args.webhooks
            .iter()
            .map(|u| (u, args.webhook_secret_env.as_str())),
    );
    for (url, env) in hooks {
        let secret = std::env::var(env).unwrap_or_default();
        if secret.is_empty() {
            bail!("webhook {url}: set its signing secret in the environment variable {env}");
        }
        out.push(Target::Webhook(Webhook::new(url.clone(), secret)?));
    }
    Ok(out)
}

/// Starts delivering the store's events when targets are configured; they need a SQLite
/// store.
pub(crate) async fn start(
    settings: &crate::settings::Settings,
    args: &DeliveryArgs,
    store: &Path,
) -> anyhow::Result<Option<Dispatcher>> {
    let targets = targets(settings, args)?;
    if targets.is_empty() {
        return Ok(None);
    }
    let sqlite = store != Path::new("-")
        && OutputFormat::for_path(store).is_ok_and(|f| f == OutputFormat::Sqlite);
    if !sqlite {
        bail!(
            "events (--events, --webhook, [[webhooks]]) come from a SQLite store: write to one with -o FILE.db"
        );
    }
    let mut opts = DeliveryOptions::for_store(store);
    if let Some(a) = settings.events.attempts {
        opts.attempts = a;
    }
    if let Some(ms) = settings.events.retry_ms {
        opts.base_delay = Duration::from_millis(ms);
    }
    if let Some(d) = &settings.events.dead_letter {
        opts.dead_letter = d.clone();
    }
    let cancel = tokio_util::sync::CancellationToken::new();
    let d = Dispatcher::spawn(store, targets, opts, cancel)
        .await
        .with_context(|| format!("cannot deliver the events of {}", store.display()))?;
    Ok(Some(d))
}

/// Waits (bounded by `events.drain_secs`) for the pending deliveries and says how they went.
pub(crate) async fn finish(
    settings: &crate::settings::Settings,
    d: Dispatcher,
) -> anyhow::Result<()> {
    let within = Duration::from_secs(settings.events.drain_secs.unwrap_or(30));
    let report = d.drain(within).await?;
    for t in &report.targets {
        let mut line = format!("events to {}: {} delivered", t.target, t.sent);
        if t.dead > 0 {
            line.push_str(&format!(", {} dead-lettered", t.dead));
        }
        if t.pending > 0 {
            line.push_str(&format!(", {} pending (sent at the next start)", t.pending));
        }
        eprintln!("{line}");
    }
    Ok(())
}

/// How a crawl ended, from its report: only a complete one may call a product `gone` by
/// absence.
pub(crate) fn crawl_end(report: &haul_runner::CrawlReport) -> CrawlEnd {
    if report.interrupted {
        CrawlEnd::Interrupted
    } else if (report.pages() > 0 && report.failed() == report.pages())
        || report.sites.iter().any(|s| !s.block_stops.is_empty())
    {
        CrawlEnd::Failed
    } else {
        CrawlEnd::Complete
    }
}

fn parse_since(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

fn parse_kind(s: &str) -> Result<EventKind, String> {
    s.parse()
        .map_err(|e: haul_output::events::UnknownKind| e.to_string())
}

/// Arguments of `haul events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// The SQLite store [default: haul.toml's `output`].
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Configuration file [default: haul.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only events of the last DURATION (`90m`, `24h`, `7d`) [default: all].
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<Duration>,
    /// Only this site's events.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// Only events of this kind (new_product, price_drop, price_rise, back_in_stock,
    /// out_of_stock, gone); repeatable.
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    pub kind: Vec<EventKind>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `haul events`: the store's events, oldest first (newest last).
pub(crate) async fn list(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let store = match &args.store {
        Some(s) => s.clone(),
        None => {
            let s =
                crate::settings::Settings::load(args.config.as_deref(), &serde_json::json!({}))?;
            if OutputFormat::for_path(&s.output).ok() != Some(OutputFormat::Sqlite) {
                bail!("name the SQLite store: haul events --store FILE.db");
            }
            s.output
        }
    };
    if !store.exists() {
        bail!("the store {} does not exist", store.display());
    }
    let since = match args.since {
        Some(d) => Some(
            chrono::Utc::now()
                - chrono::Duration::from_std(d).context("--since: the duration is too long")?,
        ),
        None => None,
    };
    let filter = EventFilter {
        since,
        site: args.site.clone(),
        kinds: args.kind.clone(),
    };
    let p = store.clone();
    let events = tokio::task::spawn_blocking(move || haul_output::list_events(&p, &filter))
        .await?
        .with_context(|| format!("cannot read the events of {}", store.display()))?;
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for e in &events {
        let line = if args.json {
            serde_json::to_string(e)?
        } else {
            row(e)
        };
        writeln!(out, "{line}")?;
    }
    if !args.json && events.is_empty() {
        eprintln!("no events");
    }
    Ok(ExitCode::SUCCESS)
}

/// One event as a terminal line: time, kind, site, what changed, title, URL.
fn row(e: &haul_output::Event) -> String {
    let time = e.at.get(..19).unwrap_or(&e.at).replace('T', " ");
    let cur = e.currency.as_deref().unwrap_or("");
    let price = |p: &Option<String>| p.clone().unwrap_or_else(|| "-".into());
    let what = match e.kind {
        EventKind::PriceDrop | EventKind::PriceRise => format!(
            "{} -> {} {cur} ({}, {}%)",
            price(&e.old_price),
            price(&e.new_price),
            e.change.as_deref().unwrap_or("?"),
            e.change_percent.as_deref().unwrap_or("?")
        ),
        EventKind::BackInStock | EventKind::OutOfStock => format!(
            "{} -> {}",
            e.old_availability.as_deref().unwrap_or("gone"),
            e.new_availability.as_deref().unwrap_or("?")
        ),
        EventKind::NewProduct => format!("{} {cur}", price(&e.new_price)),
        EventKind::Gone => format!("was {} {cur}", price(&e.old_price)),
    };
    format!(
        "{time}  {:<13}  {}  {what}  {}  {}",
        e.kind.label(),
        e.site,
        e.title.as_deref().unwrap_or("(no title)"),
        e.url
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(toml: &str) -> anyhow::Result<crate::settings::Settings> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haul.toml");
        std::fs::write(&cfg, toml).unwrap();
        let cli = crate::Cli::parse_from(["haul", "crawl", "--config", cfg.to_str().unwrap()]);
        match cli.command {
            crate::Command::Crawl(a) => {
                crate::settings::Settings::load(a.engine.config.as_deref(), &a)
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn rules_come_from_events_and_sites_tables_and_bad_values_name_the_key() {
        let s = settings(
            "[events]\nmin_change = 0.5\nmin_percent = 2\ncooldown = \"1h\"\ndaily_cap = 3\n\
             [sites.generic.events]\nmin_percent = 10\n",
        )
        .unwrap();
        let o = store_options(&s).unwrap();
        assert_eq!(o.rules.min_change, Some("0.5".parse().unwrap()));
        assert_eq!(o.rules.cooldown, Duration::from_secs(3600));
        let g = o.rules_for("generic");
        assert_eq!(g.min_percent, Some(Decimal::TEN));
        assert_eq!((g.min_change, g.daily_cap), (o.rules.min_change, 3));
        for (toml, key) in [
            ("[events]\ncooldown = \"soon\"\n", "events.cooldown"),
            ("[events]\nmin_percent = -1\n", "events.min_percent"),
            ("[events]\ndaily_cap = 0\n", "events.daily_cap"),
            ("[events]\nattempts = 0\n", "events.attempts"),
            ("[events]\nmin_precent = 1\n", "min_precent"),
            (
                "[sites.generic.events]\ncooldown = \"5y\"\n",
                "sites.generic.events.cooldown",
            ),
            (
                "[sites.generic.events]\nmin_change = -2\n",
                "sites.generic.events.min_change",
            ),
            ("[[webhooks]]\nurl = \"not a url\"\n", "webhooks"),
            (
                "[[webhooks]]\nurl = \"http://h/\"\nsecret = \"x\"\n",
                "secret",
            ),
        ] {
            let e = format!("{:#}", settings(toml).unwrap_err());
            assert!(e.contains(key), "{toml}: {e}");
        }
    }

    #[test]
    fn webhooks_need_their_secret_from_the_environment_and_never_show_it() {
        let s = settings("[[webhooks]]\nurl = \"http://127.0.0.1:9/h\"\nsecret_env = \"HAUL_TEST_NO_SUCH_SECRET\"\n")
            .unwrap();
        let e = targets(&s, &DeliveryArgs::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("HAUL_TEST_NO_SUCH_SECRET"), "{e}");
        let none = settings("").unwrap();
        let args = DeliveryArgs {
            events: Some("-".into()),
            ..DeliveryArgs::default()
        };
        assert!(matches!(
            targets(&none, &args).unwrap()[..],
            [Target::Stdout]
        ));
        let bad = crate::Cli::try_parse_from(["haul", "events", "--since", "yesterday"])
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("--since") && bad.contains("yesterday"),
            "{bad}"
        );
        let bad = crate::Cli::try_parse_from(["haul", "events", "--kind", "drop"])
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("--kind") && bad.contains("price_drop"),
            "{bad}"
        );
    }
}
