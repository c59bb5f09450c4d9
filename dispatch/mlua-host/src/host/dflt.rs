//! `__dflt` (GENVM.md §4 `lib.rs`) and the newest V2 line's `rat`, built on the Rust side.

use super::state::{Profile, Shared, YieldOnce};
use super::values::{find, CtxPart, ModuleError, Rat};
use mlua::{Error, ExternalError, Lua, LuaSerdeExt, Result, Table, Value};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use sha2::Digest;

/// A Lua value as plain JSON for reports: UTF-8 strings as text, others as hex; a table
/// with keys exactly 1..n (n > 0) as a list, any other as a map with text keys; host
/// userdata as `"<userdata>"`, mlua's NULL as null.
pub fn jsonable(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Integer(i) => json!(i),
        Value::Number(n) => json!(n),
        Value::String(s) => match s.to_str() {
            Ok(t) => json!(t.to_string()),
            Err(_) => json!(hex(&s.as_bytes())),
        },
        Value::Table(t) => {
            let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().filter_map(Result::ok).collect();
            let n = pairs.len() as i64;
            let is_seq = n > 0
                && pairs.iter().all(|(k, _)| matches!(k, Value::Integer(i) if *i >= 1 && *i <= n));
            if is_seq {
                let mut items = vec![Json::Null; n as usize];
                for (k, v) in &pairs {
                    if let Value::Integer(i) = k {
                        items[(*i - 1) as usize] = jsonable(v);
                    }
                }
                Json::Array(items)
            } else {
                let mut map = serde_json::Map::new();
                for (k, v) in &pairs {
                    let key = match jsonable(k) {
                        Json::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(key, jsonable(v));
                }
                Json::Object(map)
            }
        }
        Value::LightUserData(ud) if ud.0.is_null() => Json::Null,
        _ => json!("<userdata>"),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if text.len() % 4 != 0 {
        return Err("Invalid padding".into());
    }
    let mut out = Vec::new();
    for chunk in text.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = if i >= 4 - pad { 0 } else {
                B64.iter().position(|&x| x == c).ok_or_else(|| format!("Invalid symbol {c}"))? as u32
            };
            n = n << 6 | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad.min(2)]);
    }
    Ok(out)
}

fn deserializing(message: String) -> Error {
    ModuleError { causes: vec!["DESERIALIZING".into()], fatal: true, ctx: json!({"rust_error": message}) }
        .into_lua_err()
}

#[derive(Deserialize)]
struct UserErrorArgs {
    causes: Vec<String>,
    fatal: bool,
    ctx: Json,
}

fn part(ctx: &Value, key: &str) -> Option<CtxPart> {
    let Value::Table(t) = ctx else { return None };
    match t.get::<Value>(key).ok()? {
        Value::UserData(ud) => ud.borrow::<CtxPart>().ok().map(|p| *p),
        _ => None,
    }
}

fn normalize_ws(s: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    let (mut spaces, mut newlines) = (0, 0);
    for ch in s.chars() {
        if ch == '\n' {
            if out.is_empty() {
                continue;
            }
            while out.last() == Some(&' ') {
                out.pop();
            }
            newlines += 1;
            spaces = 0;
            if newlines <= 2 {
                out.push('\n');
            }
        } else if ch.is_whitespace() {
            if !out.is_empty() && out.last() != Some(&'\n') {
                spaces += 1;
                newlines = 0;
                if spaces == 1 {
                    out.push(' ');
                }
            }
        } else {
            spaces = 0;
            newlines = 0;
            out.push(ch);
        }
    }
    while out.last() == Some(&' ') {
        out.pop();
    }
    out.into_iter().collect()
}

/// GenVM's `filter_text` filters, applied in order (GENVM.md §4).
pub fn filter_text(s: &str, names: &[String]) -> std::result::Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_width::UnicodeWidthChar;
    let mut s = s.to_string();
    for name in names {
        s = match name.as_str() {
            "NFC" => s.nfc().collect(),
            "NFKC" => s.nfkc().collect(),
            "NormalizeWS" => normalize_ws(&s),
            "RmZeroWidth" => s.chars().filter(|&c| c == ' ' || c == '\n' || c.width().unwrap_or(0) > 0).collect(),
            other => return Err(format!("unknown variant `{other}`")),
        };
    }
    Ok(s)
}

fn split_url(url: &str, profile: Profile) -> Json {
    let (schema, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse::<i64>().unwrap_or(0)),
        _ => (authority, if schema == "https" { 443 } else { 80 }),
    };
    let port = if profile == Profile::V2New { json!(port) } else { json!(port as f64) };
    json!({"schema": schema, "host": host.to_lowercase(), "port": port})
}

fn url_encode(s: &[u8]) -> String {
    s.iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Build the global `__dflt` (and newest-V2 `rat`) for one VM.
pub fn install(lua: &Lua, state: &Shared, data_dir: &str, with_filter_text: bool) -> Result<()> {
    let profile = state.lock().unwrap().profile;
    let dflt = lua.create_table()?;
    let s = state.clone();
    dflt.set("log_json", lua.create_function(move |_, t: Value| {
        let mut fields = match &t {
            Value::Table(_) => jsonable(&t),
            other => json!({"value": jsonable(other)}),
        };
        if !fields.is_object() {
            fields = json!({"value": fields});
        }
        let obj = fields.as_object_mut().expect("log fields are a map");
        let text = |v: Option<Json>, d: &str| match v {
            None => d.to_string(),
            Some(Json::String(s)) => s,
            Some(other) => other.to_string(),
        };
        let level = text(obj.remove("level"), "info");
        let message = text(obj.remove("message"), "");
        s.lock().unwrap().log(level, message, fields);
        Ok(())
    })?)?;
    dflt.set("user_error", lua.create_function(|lua, t: Value| -> Result<()> {
        let args: UserErrorArgs = lua
            .from_value(t)
            .map_err(|e| Error::runtime(format!("deserializing user error: {e}")))?;
        Err(ModuleError { causes: args.causes, fatal: args.fatal, ctx: args.ctx }.into_lua_err())
    })?)?;
    dflt.set("as_user_error", lua.create_function(|lua, e: Value| {
        let Value::Error(err) = e else { return Ok(Value::Nil) };
        match find::<ModuleError>(&err) {
            Some(m) => lua.to_value(&json!({"causes": m.causes, "fatal": m.fatal, "ctx": m.ctx})),
            None => Ok(Value::Nil),
        }
    })?)?;
    let s = state.clone();
    dflt.set("sleep_seconds", lua.create_async_function(move |_, seconds: Value| {
        let s = s.clone();
        async move {
            if !matches!(seconds, Value::Integer(_) | Value::Number(_)) {
                return Err(Error::runtime("sleep_seconds: expected a number"));
            }
            YieldOnce::new().await;
            s.lock().unwrap().rec().sleeps.push(jsonable(&seconds));
            Ok(())
        }
    })?)?;
    let s = state.clone();
    dflt.set("request", lua.create_async_function(move |lua, (ctx, req): (Value, Value)| {
        let s = s.clone();
        async move {
            YieldOnce::new().await;
            if part(&ctx, "__ctx_dflt").is_none() {
                return Err(Error::runtime("request: `ctx.__ctx_dflt` is missing"));
            }
            let reply = {
                let mut st = s.lock().unwrap();
                st.rec().http.push(jsonable(&req));
                st.http.pop_front().unwrap_or(json!({"status": 200, "headers": {}, "body": ""}))
            };
            lua.to_value(&reply)
        }
    })?)?;
    dflt.set("json_parse", lua.create_function(|lua, s: mlua::String| {
        let v: Json = serde_json::from_slice(&s.as_bytes()).map_err(|e| deserializing(e.to_string()))?;
        lua.to_value_with(&v, mlua::SerializeOptions::new().serialize_none_to_null(false))
    })?)?;
    dflt.set("json_stringify", lua.create_function(|_, v: Value| Ok(jsonable(&v).to_string()))?)?;
    dflt.set("base64_encode", lua.create_function(|_, s: mlua::String| Ok(base64_encode(&s.as_bytes())))?)?;
    dflt.set("base64_decode", lua.create_function(|lua, s: mlua::String| {
        let bytes = base64_decode(&s.as_bytes()).map_err(deserializing)?;
        lua.create_string(bytes)
    })?)?;
    dflt.set("split_url", lua.create_function(move |lua, url: String| lua.to_value(&split_url(&url, profile)))?)?;
    if !profile.v1() {
        dflt.set("url_encode", lua.create_function(|_, s: mlua::String| Ok(url_encode(&s.as_bytes())))?)?;
        dflt.set("filter_image", lua.create_function(|_, (img, _f): (Value, Value)| Ok(img))?)?;
        if with_filter_text {
            dflt.set("filter_text", lua.create_function(|_, (s, names): (String, Vec<String>)| {
                filter_text(&s, &names).map_err(|e| Error::runtime(format!("deserializing filters: {e}")))
            })?)?;
        }
    }
    if profile == Profile::V2New {
        let s = state.clone();
        dflt.set("random_bytes", lua.create_function(move |lua, n: usize| {
            let mut st = s.lock().unwrap();
            let bytes: Vec<u8> = (0..n).map(|_| st.random() as u8).collect();
            lua.create_string(bytes)
        })?)?;
        let s = state.clone();
        dflt.set("random_float", lua.create_function(move |_, ()| {
            Ok((s.lock().unwrap().random() >> 11) as f64 / (1u64 << 53) as f64)
        })?)?;
        let s = state.clone();
        dflt.set("monotonic_ms", lua.create_function(move |_, ()| {
            let mut st = s.lock().unwrap();
            st.clock_ms += 1;
            Ok(st.clock_ms)
        })?)?;
        dflt.set("sha2_256", lua.create_function(|lua, s: mlua::String| {
            lua.create_string(sha2::Sha256::digest(&*s.as_bytes()))
        })?)?;
        dflt.set("sha3_256", lua.create_function(|lua, s: mlua::String| {
            lua.create_string(sha3::Sha3_256::digest(&*s.as_bytes()))
        })?)?;
        dflt.set("keccak256", lua.create_function(|lua, s: mlua::String| {
            lua.create_string(sha3::Keccak256::digest(&*s.as_bytes()))
        })?)?;
        dflt.set("data_dir", data_dir)?;
        install_rat(lua)?;
    }
    lua.globals().set("__dflt", dflt)
}

fn install_rat(lua: &Lua) -> Result<()> {
    let rat: Table = lua.create_table()?;
    rat.set("new", lua.create_function(|_, (a, b): (Value, Option<Value>)| {
        let base = match &a {
            Value::String(s) => Rat::parse(&s.to_str()?)?,
            other => super::values::rat_of(other)?,
        };
        match b {
            None | Some(Value::Nil) => Ok(base),
            Some(d) => {
                let d = super::values::rat_of(&d)?;
                Rat::new(base.num * d.den, base.den * d.num)
            }
        }
    })?)?;
    rat.set("is_rat", lua.create_function(|_, v: Value| {
        Ok(matches!(v, Value::UserData(ud) if ud.is::<Rat>()))
    })?)?;
    rat.set("zero", Rat::int(0))?;
    lua.globals().set("rat", rat)
}
