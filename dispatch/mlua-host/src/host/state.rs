//! What one VM's host functions share: the profile, scripted outcomes, captured records.

use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The three GenVM shapes the fake reproduces (GENVM.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    V1,
    V2Mid,
    V2New,
}

impl Profile {
    pub fn parse(name: &str) -> Result<Profile, String> {
        match name {
            "v1" => Ok(Profile::V1),
            "v2-mid" => Ok(Profile::V2Mid),
            "v2-new" => Ok(Profile::V2New),
            other => Err(format!("unknown profile `{other}`; use v1, v2-mid or v2-new")),
        }
    }

    pub fn v1(self) -> bool {
        self == Profile::V1
    }
}

/// One scripted provider outcome (GENVM.md §8 harness item 7).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Success {
        text: Option<String>,
        json: Option<Json>,
        result: Option<bool>,
        #[serde(default = "seven")]
        tokens: i64,
        /// What a newest-V2 answer reports as spent (a `rat` there).
        #[serde(default)]
        consumed_gen: i64,
    },
    StatusNotOk {
        status: i64,
        #[serde(default)]
        body: String,
        #[serde(default)]
        traceback: bool,
    },
    ReadingBody {
        status: i64,
        #[serde(default = "body_error")]
        rust_error: String,
        #[serde(default)]
        traceback: bool,
    },
    SendingRequest {
        #[serde(default = "send_error")]
        rust_error: String,
        #[serde(default)]
        traceback: bool,
    },
    Deserializing {
        #[serde(default = "decode_error")]
        rust_error: String,
        #[serde(default)]
        traceback: bool,
    },
    PlainError {
        #[serde(default = "plain_error")]
        message: String,
    },
}

fn seven() -> i64 {
    7
}
fn body_error() -> String {
    "error decoding response body".into()
}
fn send_error() -> String {
    "error sending request: operation timed out".into()
}
fn decode_error() -> String {
    "expected value at line 1 column 1".into()
}
fn plain_error() -> String {
    "running in provider: connection reset".into()
}

impl Outcome {
    /// The name the fake reports for it (its Python class name).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Success { .. } => "Success",
            Outcome::StatusNotOk { .. } => "StatusNotOk",
            Outcome::ReadingBody { .. } => "ReadingBody",
            Outcome::SendingRequest { .. } => "SendingRequest",
            Outcome::Deserializing { .. } => "Deserializing",
            Outcome::PlainError { .. } => "PlainError",
        }
    }

    pub fn default_success() -> Outcome {
        Outcome::Success { text: None, json: None, result: None, tokens: 7, consumed_gen: 0 }
    }
}

/// What one call did, as the report shows it.
#[derive(Debug, Default, Clone)]
pub struct Records {
    pub requests: Vec<Json>,
    pub logs: Vec<Json>,
    pub sleeps: Vec<Json>,
    pub http: Vec<Json>,
}

#[derive(Debug)]
pub struct HostState {
    pub profile: Profile,
    pub scripts: BTreeMap<(String, String), VecDeque<Outcome>>,
    pub http: VecDeque<Json>,
    /// Records per running call (slot 0 while the hook loads), for interleaved calls.
    pub records: BTreeMap<usize, Records>,
    pub current: usize,
    pub rng: u64,
    pub clock_ms: i64,
}

pub type Shared = Arc<Mutex<HostState>>;

impl HostState {
    /// The next scripted outcome for (backend, model): the first non-empty queue of the
    /// exact pair, `backend/*`, `*/model`, `*/*`; a default success when all are empty.
    pub fn next_outcome(&mut self, backend: &str, model: &str) -> Outcome {
        for (b, m) in [(backend, model), (backend, "*"), ("*", model), ("*", "*")] {
            if let Some(q) = self.scripts.get_mut(&(b.to_string(), m.to_string())) {
                if let Some(o) = q.pop_front() {
                    return o;
                }
            }
        }
        Outcome::default_success()
    }

    /// splitmix64: the seedable stand-in for GenVM's OS entropy (`random_*`).
    pub fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The records of the call now running.
    pub fn rec(&mut self) -> &mut Records {
        self.records.entry(self.current).or_default()
    }

    pub fn log(&mut self, level: String, message: String, fields: Json) {
        self.rec().logs.push(json!({"level": level, "message": message, "fields": fields}));
    }
}

/// A future that is pending once, as a network call is: it makes mlua's async machinery
/// yield the coroutine, so a host call from a place that cannot yield fails as in GenVM.
pub struct YieldOnce(bool);

impl YieldOnce {
    pub fn new() -> YieldOnce {
        YieldOnce(false)
    }
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
