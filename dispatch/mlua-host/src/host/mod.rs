//! The GenVM-shaped host: runs an installed hook the way GenVM's LLM module does
//! (GENVM.md §3-§5), from a scenario file, and reports what happened as JSON.
//!
//! A scenario (JSON, written by the test harness from the shared scenario definitions):
//! `profile` (v1, v2-mid, v2-new), `hook`, `config` (the LLM module YAML), `root` (the
//! GenVM tree holding the stand-in libraries) or instead `genvm_root` (an installed
//! GenVM tree: its `config/genvm-module-llm.yaml`, whose `lua_script_path` names the
//! hook), `env`, `seed`, optional `lua_path`,
//! `unset_meta` ("null"/"nil"), `filter_text`, `script` (`{backend, model, outcomes}`,
//! `*` matching any), `http` (replies for `__dflt.request`), `sessions` (hello overrides)
//! and `steps` (`{session, entry, args, remaining_gen}`, or `{interleave: [step...]}` for
//! calls of one VM stepped in turn), run in order, `data_dir` (newest V2's
//! `__dflt.data_dir`, made when absent; `root/data` unless given) and `lsqlite3` (false:
//! no `package.preload.lsqlite3`). Byte strings in `args` are written `{"$bytes": HEX}`.
//! A Teardown step's report adds `stats`, the rows of `provider_stats` in
//! `data_dir/stats.sqlite` after it, when that table exists.

mod config;
mod dflt;
mod llm;
mod sqlite;
mod state;
mod values;

#[cfg(test)]
mod tests;

use mlua::{Function, Lua, LuaSerdeExt, Table, Value};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use state::{HostState, Outcome, Profile, Records, Shared};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;
use values::{find, CtxPart, Exhausted, ModuleError, Rat};

#[derive(Deserialize)]
struct Script {
    backend: String,
    model: String,
    outcomes: Vec<Outcome>,
}

#[derive(Deserialize, Default)]
struct SessionSpec {
    node_address: Option<String>,
    tx_id: Option<Json>,
    role: Option<String>,
    #[serde(default)]
    host_data: serde_json::Map<String, Json>,
}

#[derive(Deserialize, Clone, Default)]
struct Step {
    #[serde(default)]
    session: usize,
    #[serde(default)]
    entry: String,
    /// Calls run at once in one VM instead of this one (their reports follow in order).
    #[serde(default)]
    interleave: Vec<Step>,
    #[serde(default)]
    args: Json,
    #[serde(default = "million")]
    remaining_gen: i64,
}

fn million() -> i64 {
    1_000_000
}

#[derive(Deserialize)]
struct Scenario {
    #[serde(default)]
    name: String,
    profile: String,
    /// A GenVM tree as a node holds it: `config` defaults to its
    /// `config/genvm-module-llm.yaml`, `hook` to that file's `lua_script_path`.
    genvm_root: Option<String>,
    hook: Option<String>,
    config: Option<String>,
    #[serde(default)]
    root: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    seed: u64,
    lua_path: Option<String>,
    unset_meta: Option<String>,
    #[serde(default = "yes")]
    filter_text: bool,
    #[serde(default)]
    script: Vec<Script>,
    #[serde(default)]
    http: Vec<Json>,
    #[serde(default)]
    sessions: Vec<SessionSpec>,
    #[serde(default)]
    steps: Vec<Step>,
    /// `__dflt.data_dir` (newest V2), made when absent; `root/data` unless given.
    data_dir: Option<String>,
    /// Whether the newest V2 preloads `lsqlite3`, as GenVM does.
    #[serde(default = "yes")]
    lsqlite3: bool,
}

fn yes() -> bool {
    true
}

type CallFuture = std::pin::Pin<Box<dyn Future<Output = mlua::Result<Value>>>>;

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Drive one future to completion on this thread: all an mlua async call needs here,
/// since every host future is ready on its second poll.
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A Lua value for plain JSON data, as the Python fake's `encode` builds it: maps drop
/// null values, `{"$bytes": HEX}` is a byte string.
fn to_lua(lua: &Lua, v: &Json) -> mlua::Result<Value> {
    Ok(match v {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let t = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        Json::Object(map) => {
            if let (1, Some(Json::String(h))) = (map.len(), map.get("$bytes")) {
                let bytes: Vec<u8> = (0..h.len() / 2)
                    .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap_or(0))
                    .collect();
                return Ok(Value::String(lua.create_string(bytes)?));
            }
            let t = lua.create_table()?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
    })
}

/// One GenVM VM with the hook loaded and its entry points captured once.
struct Vm {
    lua: Lua,
    state: Shared,
    profile: Profile,
    entries: BTreeMap<&'static str, Function>,
    sessions: Vec<Table>,
}

fn records(state: &Shared) -> Records {
    std::mem::take(state.lock().unwrap().rec())
}

/// The GenVM tree, the config file and the hook of a scenario.
fn paths(sc: &Scenario) -> Result<(String, String, Option<String>), String> {
    let root = sc.genvm_root.clone().unwrap_or(sc.root.clone());
    let config = match (&sc.config, &sc.genvm_root) {
        (Some(c), _) => c.clone(),
        (None, Some(r)) => format!("{r}/config/genvm-module-llm.yaml"),
        (None, None) => return Err("a scenario needs `config` or `genvm_root`".into()),
    };
    Ok((root, config, sc.hook.clone()))
}

/// The scenario's `__dflt.data_dir`, made as a node's is.
fn data_dir(sc: &Scenario) -> Result<String, String> {
    let (root, _, _) = paths(sc)?;
    let dir = sc.data_dir.clone().unwrap_or(format!("{root}/data"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("data_dir {dir}: {e}"))?;
    Ok(dir)
}

fn build(sc: &Scenario) -> Result<(Lua, Shared, Profile, String), String> {
    let profile = Profile::parse(&sc.profile)?;
    let (root, config_path, hook) = paths(sc)?;
    let source = std::fs::read_to_string(&config_path).map_err(|e| format!("{config_path}: {e}"))?;
    let cfg = config::load(&source, profile.v1(), &sc.env, &root, sc.lua_path.as_deref())?;
    let hook = match hook {
        Some(h) => h,
        None if !cfg.script.is_empty() => cfg.script.clone(),
        None => return Err(format!("{config_path} names no `lua_script_path`")),
    };
    let lua = crate::sandbox::new_state(&cfg.lua_path.replace(";;", ";")).map_err(|e| e.to_string())?;
    let mut scripts: BTreeMap<(String, String), VecDeque<Outcome>> = BTreeMap::new();
    for s in &sc.script {
        scripts.entry((s.backend.clone(), s.model.clone())).or_default().extend(s.outcomes.iter().cloned());
    }
    let state: Shared = Arc::new(Mutex::new(HostState {
        profile,
        scripts,
        http: sc.http.iter().cloned().collect(),
        records: BTreeMap::new(),
        current: 0,
        rng: sc.seed,
        clock_ms: 0,
    }));
    let null_meta = match sc.unset_meta.as_deref() {
        Some(choice) => choice == "null",
        None => profile != Profile::V2New,
    };
    dflt::install(&lua, &state, &data_dir(sc)?, sc.filter_text).map_err(|e| e.to_string())?;
    if profile == Profile::V2New && sc.lsqlite3 {
        sqlite::install(&lua).map_err(|e| e.to_string())?;
    }
    llm::install(&lua, &state, &cfg, null_meta).map_err(|e| e.to_string())?;
    Ok((lua, state, profile, hook))
}

/// Run the hook chunk and capture its entry points (GENVM.md §3).
fn load_hook(lua: &Lua, hook: &str, profile: Profile) -> Result<BTreeMap<&'static str, Function>, String> {
    let source = std::fs::read(hook).map_err(|e| format!("{hook}: {e}"))?;
    let chunk = lua
        .load(source)
        .set_name(format!("@{hook}"))
        .into_function()
        .map_err(|e| format!("loading {hook}: {e}"))?;
    let thread = lua.create_thread(chunk).map_err(|e| e.to_string())?;
    block_on(thread.into_async::<()>(())).map_err(|e| format!("running {hook}: {e}"))?;
    let mut entries = BTreeMap::new();
    let names: &[&'static str] = if profile == Profile::V2New {
        &["ExecPrompt", "ExecPromptTemplate", "Setup", "Teardown"]
    } else {
        &["ExecPrompt", "ExecPromptTemplate"]
    };
    for &name in names {
        match lua.globals().get::<Value>(name).map_err(|e| e.to_string())? {
            Value::Function(f) => {
                entries.insert(name, f);
            }
            Value::Nil if name == "Setup" || name == "Teardown" => {}
            _ if name == "Setup" || name == "Teardown" => return Err(format!("{name} must be a function when present")),
            _ => return Err("ExecPrompt and ExecPromptTemplate must be global functions".into()),
        }
    }
    Ok(entries)
}

impl Vm {
    fn session(&mut self, spec: &SessionSpec) -> mlua::Result<()> {
        let n = self.sessions.len() as u64 + 1;
        let mut host_data = serde_json::Map::new();
        host_data.insert("node_address".into(), json!(spec.node_address.clone().unwrap_or("0x00000000000000000000000000000000000000aa".into())));
        host_data.insert("tx_id".into(), spec.tx_id.clone().unwrap_or(json!(format!("0x{n:064x}"))));
        host_data.extend(spec.host_data.clone());
        let mut hello = json!({"host_data": host_data});
        if self.profile == Profile::V1 {
            hello["cookie"] = json!(format!("cookie-{n}"));
        } else {
            hello["genvm_id"] = json!(n);
        }
        if self.profile == Profile::V2New {
            hello["role"] = json!(spec.role.clone().unwrap_or("leader".into()));
            hello["gas_data"] = json!({"genPerTimeUnit": "1000"});
            hello["initial_time_units_allocation"] = json!(1000);
        }
        let Value::Table(ctx) = to_lua(&self.lua, &hello)? else { unreachable!() };
        ctx.set("__ctx_dflt", CtxPart { session: n, llm: false })?;
        ctx.set("__ctx_llm", CtxPart { session: n, llm: true })?;
        self.sessions.push(ctx);
        Ok(())
    }

    /// Start `step`'s entry point in its own coroutine; an answer at once when GenVM
    /// never runs the script (no such lifecycle function, a rejected image).
    fn begin(&self, step: &Step) -> Result<CallFuture, Json> {
        let entry = step.entry.as_str();
        let ctx = self.sessions[step.session].clone();
        let Some(f) = self.entries.get(entry) else {
            return Err(json!({"kind": "not_called"}));
        };
        if entry == "ExecPrompt" {
            if let Some(cause) = self.check_images(&step.args) {
                return Err(json!({"kind": "user_error", "causes": [cause], "ctx": {}}));
            }
        }
        let start = || -> mlua::Result<CallFuture> {
            let thread = self.lua.create_thread(f.clone())?;
            if entry == "Setup" || entry == "Teardown" {
                return Ok(Box::pin(thread.into_async::<Value>(ctx.clone())));
            }
            let budget = if self.profile == Profile::V2New {
                self.lua.create_userdata(Rat::int(step.remaining_gen as i128)).map(Value::UserData)?
            } else {
                Value::Integer(step.remaining_gen)
            };
            let args = to_lua(&self.lua, &step.args)?;
            Ok(Box::pin(thread.into_async::<Value>((ctx.clone(), args, budget))))
        };
        start().map_err(|e| json!({"kind": "fatal_error", "message": e.to_string()}))
    }

    /// GenVM's mapping of how the entry point ended (GENVM.md §5).
    fn finish(&self, step: &Step, result: mlua::Result<Value>) -> Json {
        let lifecycle = step.entry == "Setup" || step.entry == "Teardown";
        match result {
            Ok(_) if lifecycle => json!({"kind": "ok"}),
            Ok(v) => self.judge_return(v),
            Err(e) if find::<Exhausted>(&e).is_some() && !lifecycle => {
                json!({"kind": "ok", "data": "", "consumed_gen": step.remaining_gen})
            }
            Err(e) => match find::<ModuleError>(&e) {
                Some(m) => json!({
                    "kind": if m.fatal { "fatal_error" } else { "user_error" },
                    "causes": m.causes, "ctx": m.ctx, "message": m.to_string()}),
                None => json!({"kind": "fatal_error", "message": e.to_string()}),
            },
        }
    }

    fn call(&self, step: &Step) -> Json {
        match self.begin(step) {
            Ok(fut) => self.finish(step, block_on(fut)),
            Err(answer) => answer,
        }
    }

    /// Run `steps` in one VM at once: each poll resumes one coroutine to its next host
    /// yield, in turn, as GenVM's pool interleaves sessions; records kept per call.
    fn interleave(&self, steps: &[Step]) -> Vec<(Json, Records)> {
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut running: Vec<Option<CallFuture>> = Vec::new();
        let mut results: Vec<Option<Json>> = Vec::new();
        for step in steps {
            match self.begin(step) {
                Ok(fut) => {
                    running.push(Some(fut));
                    results.push(None);
                }
                Err(answer) => {
                    running.push(None);
                    results.push(Some(answer));
                }
            }
        }
        while running.iter().any(Option::is_some) {
            for (i, slot) in running.iter_mut().enumerate() {
                let Some(fut) = slot else { continue };
                self.state.lock().unwrap().current = i + 1;
                if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                    results[i] = Some(self.finish(&steps[i], r));
                    *slot = None;
                }
            }
        }
        let mut out = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            let mut st = self.state.lock().unwrap();
            let r = st.records.remove(&(i + 1)).unwrap_or_default();
            out.push((result.unwrap_or(Json::Null), r));
        }
        self.state.lock().unwrap().current = 0;
        out
    }

    fn check_images(&self, args: &Json) -> Option<&'static str> {
        let images = args.get("images").and_then(Json::as_array)?;
        let v2 = !self.profile.v1();
        if v2 && images.len() > 2 {
            return Some("TOO_MANY_IMAGES");
        }
        for img in images {
            let h = img.get("$bytes").and_then(Json::as_str).unwrap_or("");
            if v2 && h.len() / 2 > 5 * 1024 * 1024 {
                return Some("IMAGE_TOO_LARGE");
            }
            if !(h.starts_with("89504e470d0a1a0a") || h.starts_with("ffd8ffe0")) {
                return Some("INVALID_IMAGE");
            }
        }
        None
    }

    /// The return value as GenVM deserialises it (GENVM.md §5).
    fn judge_return(&self, value: Value) -> Json {
        let fatal = |m: String| json!({"kind": "fatal_error", "message": m});
        let Value::Table(t) = value else { return fatal("entry point returned nothing usable".into()) };
        let data: Value = t.get("data").unwrap_or(Value::Nil);
        let data: Result<Json, _> = if self.profile.v1() {
            self.lua.from_value::<DataV1>(data).map(|d| d.json())
        } else {
            self.lua.from_value::<DataV2>(data).map(|d| d.json())
        };
        let data = match data {
            Ok(d) => d,
            Err(e) => return fatal(format!("deserializing data: {e}")),
        };
        let gen: Value = t.get("consumed_gen").unwrap_or(Value::Nil);
        let consumed = if self.profile != Profile::V2New {
            self.lua.from_value::<u64>(gen).map_err(|e| e.to_string()).map(|g| g as i128)
        } else {
            match gen {
                Value::Nil => Ok(0),
                Value::UserData(ud) => match ud.borrow::<Rat>() {
                    Ok(r) if r.den == 1 && r.num >= 0 => Ok(r.num),
                    _ => Err("not an integral non-negative rat".into()),
                },
                Value::Integer(i) => Ok(i.max(0) as i128),
                Value::Number(n) => Ok(n.max(0.0) as i128),
                _ => Err("not a number".into()),
            }
        };
        match consumed {
            Ok(g) => json!({"kind": "ok", "data": data, "consumed_gen": g as i64}),
            Err(e) => fatal(format!("`consumed_gen` is not acceptable: {e}")),
        }
    }
}

/// V1 tries string, boolean, map in that order.
#[derive(Deserialize)]
#[serde(untagged)]
enum DataV1 {
    Text(String),
    Bool(bool),
    Map(serde_json::Map<String, Json>),
}

/// V2 tries string, map, boolean.
#[derive(Deserialize)]
#[serde(untagged)]
enum DataV2 {
    Text(String),
    Map(serde_json::Map<String, Json>),
    Bool(bool),
}

impl DataV1 {
    fn json(self) -> Json {
        match self {
            DataV1::Text(s) => json!(s),
            DataV1::Bool(b) => json!(b),
            DataV1::Map(m) => Json::Object(m),
        }
    }
}

impl DataV2 {
    fn json(self) -> Json {
        match self {
            DataV2::Text(s) => json!(s),
            DataV2::Bool(b) => json!(b),
            DataV2::Map(m) => Json::Object(m),
        }
    }
}

fn with_records(mut result: Json, r: Records) -> Json {
    result["requests"] = json!(r.requests);
    result["logs"] = json!(r.logs);
    result["sleeps"] = json!(r.sleeps);
    result["http"] = json!(r.http);
    result
}

fn start(sc: &Scenario) -> Result<Vm, (String, Records)> {
    let (lua, state, profile, hook) = build(sc).map_err(|e| (e, Records::default()))?;
    match load_hook(&lua, &hook, profile) {
        Ok(entries) => Ok(Vm { lua, state, profile, entries, sessions: Vec::new() }),
        Err(e) => Err((e, records(&state))),
    }
}

fn run(sc: &Scenario) -> Json {
    let mut vm = match start(sc) {
        Ok(vm) => vm,
        Err((message, r)) => {
            return json!({"name": sc.name, "profile": sc.profile,
                "start": with_records(json!({"kind": "module_does_not_start", "message": message}), r),
                "steps": []});
        }
    };
    let started = with_records(json!({"kind": "ok"}), records(&vm.state));
    let mut steps = Vec::new();
    for spec in &sc.sessions {
        if let Err(e) = vm.session(spec) {
            return json!({"name": sc.name, "error": e.to_string()});
        }
    }
    for step in &sc.steps {
        let done = if step.interleave.is_empty() {
            vec![(vm.call(step), records(&vm.state))]
        } else {
            vm.interleave(&step.interleave)
        };
        let parts = if step.interleave.is_empty() { std::slice::from_ref(step) } else { &step.interleave[..] };
        for ((mut result, r), part) in done.into_iter().zip(parts) {
            result["session"] = json!(part.session);
            result["entry"] = json!(part.entry);
            if part.entry == "Teardown" {
                let dir = data_dir(sc).unwrap_or_default();
                if let Some(rows) = sqlite::stats_rows(&format!("{dir}/stats.sqlite")) {
                    result["stats"] = rows;
                }
            }
            steps.push(with_records(result, r));
        }
    }
    json!({"name": sc.name, "profile": sc.profile, "start": started, "steps": steps})
}

fn read_scenario(path: &str) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: not a scenario: {e}"))
}

/// `host SCENARIO...`: one JSON report per scenario, one per line.
pub fn run_files(paths: &[String]) -> Result<bool, String> {
    for path in paths {
        println!("{}", run(&read_scenario(path)?));
    }
    Ok(true)
}

/// `bench SCENARIO STARTS CALLS`: nanoseconds of each hook start (the chunk run in a
/// fresh VM whose host is installed) and of each run of the scenario's first step.
pub fn bench(path: &str, starts: &str, calls: &str) -> Result<bool, String> {
    let sc = read_scenario(path)?;
    let count = |s: &str| s.parse::<usize>().map_err(|_| format!("`{s}` is not a count"));
    let mut start_ns = Vec::new();
    for _ in 0..count(starts)? {
        let (lua, _state, profile, hook) = build(&sc)?;
        let t = Instant::now();
        load_hook(&lua, &hook, profile)?;
        start_ns.push(t.elapsed().as_nanos() as u64);
    }
    let mut vm = start(&sc).map_err(|(e, _)| e)?;
    vm.session(sc.sessions.first().unwrap_or(&SessionSpec::default())).map_err(|e| e.to_string())?;
    let step = sc.steps.first().ok_or("the scenario has no step to time")?.clone();
    let mut call_ns = Vec::new();
    for _ in 0..count(calls)? {
        let t = Instant::now();
        let result = vm.call(&Step { session: 0, ..step.clone() });
        call_ns.push(t.elapsed().as_nanos() as u64);
        records(&vm.state);
        if result["kind"] != "ok" {
            return Err(format!("the timed call gave {result}"));
        }
    }
    println!("{}", json!({"start_ns": start_ns, "call_ns": call_ns}));
    Ok(true)
}
