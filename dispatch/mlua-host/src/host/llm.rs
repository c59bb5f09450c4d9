//! `__llm` (GENVM.md §4): the filtered providers in a shuffled insertion order, the
//! templates, and the async `exec_prompt_in_provider`, whose request mlua's own serde
//! decodes into structs shaped like GenVM's.

use super::config::{Backend, Config};
use super::dflt::hex;
use super::state::{Outcome, Profile, Shared, YieldOnce};
use super::values::{CtxPart, Exhausted, ModuleError, Rat};
use mlua::{Error, ExternalError, Lua, LuaSerdeExt, Result, Table, Value};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// A Lua string as bytes, text or not (images are binary).
#[derive(Debug)]
pub struct Bytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Bytes, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v.as_bytes().to_vec()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Json,
    Bool,
}

/// V1 and the middle V2 versions: unknown keys (a `seed`) are ignored.
#[derive(Debug, Deserialize)]
pub struct Prompt {
    pub system_message: Option<String>,
    pub user_message: String,
    pub temperature: f64,
    pub images: Vec<Bytes>,
    pub max_tokens: u32,
    pub use_max_completion_tokens: bool,
}

/// The newest V2 line's prompt: `seed`, `extra`, `extra_merge_strategy` added.
#[derive(Debug, Deserialize)]
pub struct PromptNew {
    pub system_message: Option<String>,
    pub user_message: String,
    pub temperature: f64,
    pub images: Vec<Bytes>,
    pub max_tokens: u32,
    pub use_max_completion_tokens: bool,
    pub seed: Option<u64>,
    pub extra: Option<Json>,
    pub extra_merge_strategy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Timeout {
    Seconds(f64),
    Text(String),
}

/// V1 and the middle V2 versions: no `timeout` field, so any value there is ignored.
#[derive(Debug, Deserialize)]
pub struct Request {
    pub provider: String,
    pub model: String,
    pub format: Format,
    pub prompt: Prompt,
}

/// The newest V2 line's request: `timeout` in seconds or a duration text.
#[derive(Debug, Deserialize)]
pub struct RequestNew {
    pub provider: String,
    pub model: String,
    pub format: Format,
    pub prompt: PromptNew,
    pub timeout: Option<Timeout>,
}

fn prompt_json(p: &Prompt) -> serde_json::Map<String, Json> {
    let mut m = serde_json::Map::new();
    m.insert("system_message".into(), json!(p.system_message));
    m.insert("user_message".into(), json!(p.user_message));
    m.insert("temperature".into(), json!(p.temperature));
    m.insert("images".into(), json!(p.images.iter().map(|i| hex(&i.0)).collect::<Vec<_>>()));
    m.insert("max_tokens".into(), json!(p.max_tokens));
    m.insert("use_max_completion_tokens".into(), json!(p.use_max_completion_tokens));
    m
}

/// The request as the provider saw it (flat, as the Python fake reports it), its route and format.
fn check(lua: &Lua, raw: Value, profile: Profile) -> Result<(Json, String, String, Format)> {
    let err = |e: Error| Error::runtime(format!("deserializing request: {e}"));
    let (mut flat, provider, model, format) = if profile == Profile::V2New {
        let r: RequestNew = lua.from_value(raw).map_err(err)?;
        let p = r.prompt;
        let mut m = prompt_json(&Prompt {
            system_message: p.system_message,
            user_message: p.user_message,
            temperature: p.temperature,
            images: p.images,
            max_tokens: p.max_tokens,
            use_max_completion_tokens: p.use_max_completion_tokens,
        });
        m.insert("seed".into(), json!(p.seed));
        m.insert("extra".into(), p.extra.unwrap_or(Json::Null));
        m.insert("extra_merge_strategy".into(), json!(p.extra_merge_strategy));
        m.insert("timeout".into(), match r.timeout {
            None => Json::Null,
            Some(Timeout::Seconds(s)) => json!(s),
            Some(Timeout::Text(t)) => json!(t),
        });
        (m, r.provider, r.model, r.format)
    } else {
        let r: Request = lua.from_value(raw).map_err(err)?;
        (prompt_json(&r.prompt), r.provider, r.model, r.format)
    };
    flat.insert("provider".into(), json!(provider));
    flat.insert("model".into(), json!(model));
    flat.insert("format".into(), json!(match format {
        Format::Text => "text",
        Format::Json => "json",
        Format::Bool => "bool",
    }));
    Ok((Json::Object(flat), provider, model, format))
}

fn answer(lua: &Lua, profile: Profile, provider: &str, model: &str, format: Format, ok: Outcome) -> Result<Value> {
    let Outcome::Success { text, json: value, result, tokens, consumed_gen } = ok else { unreachable!() };
    let who = format!("{provider}/{model}");
    let data = match format {
        Format::Text => json!(text.unwrap_or(format!("text answer from {who}"))),
        Format::Bool => json!(result.unwrap_or(true)),
        Format::Json => {
            let v = value.unwrap_or(json!({"answer": who}));
            if profile == Profile::V2New { json!(v.to_string()) } else { v }
        }
    };
    let mut out = json!({"data": data, "consumed_gen": 0});
    if profile != Profile::V1 {
        out["input_tokens"] = json!(tokens);
        out["output_tokens"] = json!(tokens);
        out["total_tokens"] = json!(2 * tokens);
    }
    let table: Table = match lua.to_value(&out)? {
        Value::Table(t) => t,
        _ => unreachable!(),
    };
    if profile == Profile::V2New {
        table.set("consumed_gen", Rat::int(consumed_gen.into()))?;
    }
    Ok(Value::Table(table))
}

fn module_error(profile: Profile, backend: &Backend, out: &Outcome) -> Error {
    let url = format!("{}/v1/chat/completions", backend.host.trim_end_matches('/'));
    let (kind, ctx, traceback) = match out {
        Outcome::StatusNotOk { status, body, traceback } => (
            "STATUS_NOT_OK",
            json!({"url": url, "status": *status as f64, "headers": {}, "body": body}),
            *traceback,
        ),
        Outcome::ReadingBody { status, rust_error, traceback } => (
            "READING_BODY",
            json!({"url": url, "status": *status as f64, "rust_error": rust_error, "headers": {}}),
            *traceback,
        ),
        Outcome::SendingRequest { rust_error, traceback } => {
            let mut ctx = json!({"rust_error": rust_error});
            if !profile.v1() {
                ctx["url"] = json!(url);
            }
            ("SENDING_REQUEST", ctx, *traceback)
        }
        Outcome::Deserializing { rust_error, traceback } => {
            ("DESERIALIZING", json!({"rust_error": rust_error}), *traceback)
        }
        _ => unreachable!(),
    };
    let mut causes = vec![kind.to_string()];
    if traceback {
        causes.push("stack traceback:\n\t[host]: in exec_prompt_in_provider".into());
    }
    ModuleError { causes, fatal: true, ctx }.into_lua_err()
}

fn provider_call(lua: &Lua, state: &Shared, config: &[Backend], ctx: Value, raw: Value) -> Result<Value> {
    let profile = state.lock().unwrap().profile;
    let part = match &ctx {
        Value::Table(t) => match t.get::<Value>("__ctx_llm")? {
            Value::UserData(ud) => ud.borrow::<CtxPart>().ok().map(|p| *p),
            _ => None,
        },
        _ => None,
    };
    let index = {
        let mut st = state.lock().unwrap();
        st.rec().requests.push(json!({
            "session": part.map(|p| p.session), "request": null, "outcome": "plain_error"}));
        st.rec().requests.len() - 1
    };
    if !part.is_some_and(|p| p.llm) {
        return Err(Error::runtime("error converting Lua nil to userdata (`__ctx_llm`)"));
    }
    let (seen, provider, model, format) = check(lua, raw, profile)?;
    state.lock().unwrap().rec().requests[index]["request"] = seen;
    let Some(backend) = config.iter().find(|b| b.name == provider) else {
        return Err(Error::runtime(format!("absent provider_id `{provider}`")));
    };
    if !backend.models.iter().any(|m| m.id == model) {
        return Err(Error::runtime(format!("model `{model}` is not enabled in `{provider}`")));
    }
    let outcome = {
        let mut st = state.lock().unwrap();
        let o = st.next_outcome(&provider, &model);
        st.rec().requests[index]["outcome"] = json!(o.name());
        o
    };
    match outcome {
        Outcome::Success { .. } => answer(lua, profile, &provider, &model, format, outcome),
        Outcome::PlainError { message } => Err(Error::runtime(message)),
        other => Err(module_error(profile, backend, &other)),
    }
}

/// A Lua value for `meta`: set → the YAML value, unset → NULL or nil per `null_meta`.
fn meta(lua: &Lua, value: &Option<Json>, null_meta: bool) -> Result<Value> {
    match value {
        Some(v) => lua.to_value(v),
        None if null_meta => Ok(Value::NULL),
        None => Ok(Value::Nil),
    }
}

/// Fisher–Yates over `0..n` driven by the host's seeded generator.
fn shuffled(state: &Shared, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut st = state.lock().unwrap();
    for i in (1..n).rev() {
        order.swap(i, (st.random() % (i as u64 + 1)) as usize);
    }
    order
}

fn providers(lua: &Lua, state: &Shared, config: &Config, null_meta: bool) -> Result<Table> {
    let profile = state.lock().unwrap().profile;
    let out = lua.create_table()?;
    for b in shuffled(state, config.backends.len()) {
        let backend = &config.backends[b];
        let models = lua.create_table()?;
        for m in shuffled(state, backend.models.len()) {
            let model = &backend.models[m];
            let t = lua.create_table()?;
            t.set("enabled", true)?;
            t.set("supports_json", model.supports_json)?;
            t.set("supports_image", model.supports_image)?;
            t.set("use_max_completion_tokens", model.use_max_completion_tokens)?;
            t.set("meta", meta(lua, &model.meta, null_meta)?)?;
            if !profile.v1() {
                t.set("timeout", model.timeout)?;
            }
            models.set(model.id.as_str(), t)?;
        }
        let t = lua.create_table()?;
        t.set("models", models)?;
        if !profile.v1() {
            t.set("meta", meta(lua, &backend.meta, null_meta)?)?;
            t.set("timeout", backend.timeout)?;
        }
        out.set(backend.name.as_str(), t)?;
    }
    Ok(out)
}

/// Build the global `__llm` for one VM.
pub fn install(lua: &Lua, state: &Shared, config: &Config, null_meta: bool) -> Result<()> {
    let profile = state.lock().unwrap().profile;
    let llm = lua.create_table()?;
    llm.set("providers", providers(lua, state, config, null_meta)?)?;
    llm.set("templates", lua.to_value(&config.templates)?)?;
    let (s, backends) = (state.clone(), config.backends.clone());
    llm.set("exec_prompt_in_provider", lua.create_async_function(move |lua, (ctx, req): (Value, Value)| {
        let (s, backends) = (s.clone(), backends.clone());
        async move {
            YieldOnce::new().await;
            provider_call(&lua, &s, &backends, ctx, req)
        }
    })?)?;
    if profile == Profile::V2New {
        llm.set("meta", match &config.meta {
            Some(v) => lua.to_value(v)?,
            None => Value::Nil,
        })?;
        llm.set("timeout", config.timeout)?;
        llm.set("exhaust", lua.create_function(|_, ()| -> Result<()> { Err(Exhausted.into_lua_err()) })?)?;
    }
    lua.globals().set("__llm", llm)
}
