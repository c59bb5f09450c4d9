-- Stand-in for GenVM's lib-llm.lua (GENVM.md §4), written for the fake.
-- Capability-filtered copies of the providers are built once, when first required.
local lib = require("lib-genvm")

local LINE = "@LINE@"
local M = {}

M.rs = __llm
M.providers = __llm.providers
M.templates = __llm.templates
M.overloaded_statuses = { [408] = true, [429] = true, [503] = true, [504] = true, [529] = true }

local function keep(pred)
  local out = {}
  for backend, spec in pairs(__llm.providers) do
    local models = {}
    local any = false
    for id, m in pairs(spec.models) do
      if pred(m) then
        models[id] = m
        any = true
      end
    end
    if any then out[backend] = { models = models } end
  end
  return out
end

local with_json = keep(function(m) return m.supports_json end)
local with_image = keep(function(m) return m.supports_image end)
local with_both = keep(function(m) return m.supports_json and m.supports_image end)

lib.log({ level = "debug", message = "lib-llm: providers indexed" })

-- Providers that can answer `prompt` in `format` (a `prompt` with `images`).
function M.select_providers_for(prompt, format)
  local images = prompt.images ~= nil and #prompt.images > 0
  if format == "json" or format == "bool" then
    return images and with_both or with_json
  end
  return images and with_image or __llm.providers
end

-- ExecPrompt args → `{prompt, format}` for `exec_prompt_in_provider`.
function M.exec_prompt_transform(args)
  local prompt = {
    system_message = nil,
    user_message = args.prompt,
    temperature = 0.7,
    images = args.images or {},
    max_tokens = LINE == "v1" and 1000 or 8000,
    use_max_completion_tokens = false,
  }
  if args.response_format == "json" then
    prompt.system_message = "respond with a valid json object"
  end
  return { prompt = prompt, format = args.response_format }
end

local TEMPLATES = {
  EqComparative = { key = "eq_comparative", format = "bool" },
  EqNonComparativeValidator = { key = "eq_non_comparative_validator", format = "bool" },
  EqNonComparativeLeader = { key = "eq_non_comparative_leader", format = "text" },
}

-- ExecPromptTemplate's flat args → `{prompt, format}`. Like the original it leaves the
-- global `my_data` behind.
function M.exec_prompt_template_transform(args)
  local which = TEMPLATES[args.template]
  if which == nil then
    error("unknown template `" .. tostring(args.template) .. "`")
  end
  my_data = args
  local tpl = __llm.templates[which.key]
  -- Each `#{key}` is replaced through a replacement string: V1 passes the value as is, so
  -- a `%` in it is read as a capture reference; V2 escapes it first.
  local function fill(s)
    for name, value in pairs(args) do
      local v = tostring(value)
      if LINE == "v2" then v = string.gsub(v, "%%", "%%%%") end
      s = string.gsub(s, "#{" .. name .. "}", v)
    end
    return s
  end
  return {
    prompt = {
      system_message = fill(tpl.system),
      user_message = fill(tpl.user),
      temperature = 0.7,
      images = {},
      max_tokens = 1000,
      use_max_completion_tokens = false,
    },
    format = which.format,
  }
end

return M
