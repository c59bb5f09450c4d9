//! GenVM's LLM module YAML → what the hook sees (GENVM.md §4 `providers`, §6 config).
//!
//! Every string, keys included, is templated (`${ENV[NAME]}`, `${genvmVersion}`, V1
//! `${genvmRoot}`, V2 `${exeDir}`; anything else refuses to start). Disabled models are
//! dropped; disabled backends, backends whose key is empty and backends left without a
//! model are dropped; none left → the module does not start.

use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;

pub const GENVM_VERSION: &str = "v0.0.0-genvmfake";

#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    pub supports_json: bool,
    pub supports_image: bool,
    pub use_max_completion_tokens: bool,
    pub meta: Option<serde_json::Value>,
    pub timeout: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub host: String,
    pub models: Vec<Model>,
    pub meta: Option<serde_json::Value>,
    pub timeout: Option<f64>,
}

#[derive(Debug)]
pub struct Config {
    pub backends: Vec<Backend>,
    pub templates: serde_json::Value,
    pub meta: Option<serde_json::Value>,
    pub timeout: Option<f64>,
    pub lua_path: String,
    /// `lua_script_path` after templating: the hook a node's module runs.
    pub script: String,
}

fn template(value: Yaml, env: &BTreeMap<String, String>, dirs: &[(&str, String)]) -> Result<Yaml, String> {
    Ok(match value {
        Yaml::String(s) => Yaml::String(fill(&s, env, dirs)?),
        Yaml::Sequence(items) => Yaml::Sequence(
            items.into_iter().map(|v| template(v, env, dirs)).collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut out = serde_yaml::Mapping::new();
            for (k, v) in map {
                out.insert(template(k, env, dirs)?, template(v, env, dirs)?);
            }
            Yaml::Mapping(out)
        }
        other => other,
    })
}

fn fill(s: &str, env: &BTreeMap<String, String>, dirs: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        if let Some(var) = name.strip_prefix("ENV[").and_then(|n| n.strip_suffix(']')) {
            out.push_str(env.get(var).map(String::as_str).unwrap_or(""));
        } else if name == "genvmVersion" {
            out.push_str(GENVM_VERSION);
        } else if let Some((_, dir)) = dirs.iter().find(|(d, _)| *d == name) {
            out.push_str(dir);
        } else {
            return Err(format!("unknown template variable `{name}`"));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn get<'a>(map: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    map.as_mapping().and_then(|m| m.get(key)).filter(|v| !v.is_null())
}

fn flag(map: &Yaml, key: &str, default: bool) -> bool {
    match get(map, key) {
        Some(Yaml::Bool(b)) => *b,
        Some(_) => true,
        None => default,
    }
}

fn json(value: Option<&Yaml>) -> Option<serde_json::Value> {
    value.and_then(|v| serde_json::to_value(v).ok())
}

/// Seconds from a YAML duration (`90s`, `2m`, `500ms`, a bare number).
pub fn duration(value: Option<&Yaml>) -> Result<Option<f64>, String> {
    let Some(value) = value else { return Ok(None) };
    if let Some(n) = value.as_f64() {
        return Ok(Some(n));
    }
    let text = value.as_str().ok_or_else(|| "timeout is not a duration".to_string())?.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("timeout `{text}` is not a duration")),
    };
    number.parse::<f64>().map(|n| Some(n * scale)).map_err(|_| format!("timeout `{text}` is not a duration"))
}

/// Read and filter `source` as `line` ("v1" or "v2") would, with `root` as the GenVM tree.
pub fn load(source: &str, v1: bool, env: &BTreeMap<String, String>, root: &str, lua_path: Option<&str>) -> Result<Config, String> {
    let mut raw: Yaml = serde_yaml::from_str(source).map_err(|e| format!("the config is not YAML: {e}"))?;
    if raw.is_null() {
        raw = Yaml::Mapping(Default::default());
    }
    let key = if v1 { "extra_lua_path" } else { "lua_path" };
    if let (Some(path), Some(map)) = (lua_path, raw.as_mapping_mut()) {
        map.insert(Yaml::from(key), Yaml::from(path));
    }
    let dirs = if v1 { vec![("genvmRoot", root.to_string())] } else { vec![("exeDir", format!("{root}/bin"))] };
    let raw = template(raw, env, &dirs)?;
    let mut backends = Vec::new();
    if let Some(Yaml::Mapping(all)) = get(&raw, "backends") {
        for (name, spec) in all {
            let name = name.as_str().unwrap_or_default().to_string();
            let mut models = Vec::new();
            if let Some(Yaml::Mapping(ms)) = get(spec, "models") {
                for (id, m) in ms {
                    if !flag(m, "enabled", true) {
                        continue;
                    }
                    models.push(Model {
                        id: id.as_str().unwrap_or_default().to_string(),
                        supports_json: flag(m, "supports_json", false),
                        supports_image: flag(m, "supports_image", false),
                        use_max_completion_tokens: flag(m, "use_max_completion_tokens", false),
                        meta: json(get(m, "meta")),
                        timeout: if v1 { None } else { duration(get(m, "timeout"))? },
                    });
                }
            }
            let keyed = get(spec, "key").and_then(Yaml::as_str).is_some_and(|k| !k.is_empty());
            if !flag(spec, "enabled", true) || !keyed || models.is_empty() {
                continue;
            }
            backends.push(Backend {
                name,
                host: get(spec, "host").and_then(Yaml::as_str).unwrap_or_default().to_string(),
                models,
                meta: if v1 { None } else { json(get(spec, "meta")) },
                timeout: if v1 { None } else { duration(get(spec, "timeout"))? },
            });
        }
    }
    if backends.is_empty() {
        return Err("no backend left after filtering: the module does not start".into());
    }
    let extra = get(&raw, key).and_then(Yaml::as_str).unwrap_or_default();
    let lua_path = if v1 {
        format!("{root}/share/lib/genvm/lua/?.lua;{extra}")
    } else if extra.is_empty() {
        return Err("`lua_path` is required in the V2 config".into());
    } else {
        extra.to_string()
    };
    Ok(Config {
        backends,
        templates: json(get(&raw, "prompt_templates")).unwrap_or(serde_json::json!({})),
        meta: if v1 { None } else { json(get(&raw, "meta")) },
        timeout: if v1 { None } else { duration(get(&raw, "timeout"))? },
        lua_path,
        script: get(&raw, "lua_script_path").and_then(Yaml::as_str).unwrap_or_default().to_string(),
    })
}
