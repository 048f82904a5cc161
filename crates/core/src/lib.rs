//! haul's contracts: what every other crate codes against.
//!
//! This crate knows nothing of Chromium, of LLM providers, of output files or of any particular
//! shop. It defines:
//!
//! * [`Record`]: one product or deal as extracted, with exact decimal prices;
//! * [`Extractor`]: what a site plugin implements, and the [`Context`] it is given;
//! * [`PageKind`] / [`PageClass`] / [`PageContract`]: a site's page kinds, what the engine
//!   needs to know about a URL, and what a good page of each kind yields;
//! * [`Document`]: a fetched (or rendered) page handed to an extractor;
//! * [`PagePool`] / [`PageHandle`] / [`Page`]: pooled browser pages, released on drop;
//! * [`LlmPool`]: the process-wide LLM task pool, as seen by sites;
//! * [`Fetcher`]: the runner's polite HTTP client, as seen by sites;
//! * [`SiteSession`] / [`Session`]: a site's headers, locale/currency pin and cookie jar;
//! * [`Choice`]: enums with a few named values (`--extract`), parsed and shown by label;
//! * [`SiteRegistration`] / [`Registry`]: plugin registration through `inventory`.
//!
//! Implementations live elsewhere: the runner implements [`Fetcher`], `haul-browser`
//! implements [`PagePool`], `haul-llm` implements [`LlmPool`].

pub mod block;
pub mod cancel;
mod choice;
mod contract;
mod document;
mod error;
mod extractor;
mod failure;
pub mod head;
mod later;
mod llm;
pub mod net;
mod pool;
pub mod proxy;
mod record;
mod registry;
mod scope;
mod session;

pub use block::{Block, BlockMarker};
pub use choice::{Choice, UnknownChoice};
pub use contract::{Breach, PageClass, PageContract, PageKind};
pub use document::{Admission, Document, FetchRequest, Fetcher, RawBody};
pub use error::{ExtractError, FetchError, LlmError, PageError};
pub use extractor::{Context, ExtractMode, Extraction, Extractor, PagePlan, RenderNeed, Warning};
pub use failure::{FailureKind, LlmFailureKind, TransportKind, UnknownKind};
pub use later::{Later, LaterWork};
pub use llm::{LlmAnswer, LlmPool, LlmTask};
pub use pool::{
    DEFAULT_MAX_PAGE_BYTES, NavGuard, NavOptions, Page, PageHandle, PagePool, PoolStats,
};
pub use proxy::{ProxyOutcome, ProxyPick, ProxyPool, ProxyStats, ProxyUrl, ProxyUrlError};
pub use record::{
    Availability, Currency, CurrencyError, Method, Record, RecordKind, RecordProblem,
};
pub use registry::{FALLBACK_SITE, Registry, RegistryError, SiteRegistration};
pub use scope::Scope;
pub use session::{
    BROWSER_HEADERS, BROWSER_USER_AGENT, Cookie, CountryPin, CurrencyPin, MAX_COOKIE_BYTES,
    MAX_JAR_COOKIES, Session, SiteSession,
};

// Re-exported so site crates can register without naming `inventory` themselves, and so
// that every crate agrees on the versions of the types that appear in the contracts.
pub use async_trait::async_trait;
#[doc(hidden)]
pub use inventory;
pub use rust_decimal::Decimal;
pub use url::Url;
