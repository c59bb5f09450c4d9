--- The hook's shared tables, generated from the Python node layer: do not edit.
--
-- Spec: docs/HOOK.md. Written by `genvm-policy vectors tables` from the tables of
-- genvm_policy/node/ (genvm_policy/node/hooktables.py says which); change the
-- Python table and run the command again, and a test regenerates this file and
-- compares bytes. Each part is named after the glue module that reads it.

return {
  hook = {
    RECORD_MESSAGE = "genvm-policy decision",
    FAULT_MESSAGE = "genvm-policy fallback",
    UNROUTABLE_MESSAGE = "genvm-policy unroutable",
    FORMAT = 1,
    SPEC = 2,
    PREFIX = "return { format = ",
    SUFFIX = "\" }\010",
    KEYS = {
      "format",
      "spec",
      "policy",
      "catalog",
      "identities",
    },
    IDENTITY_KEYS = {
      "policy",
      "catalog",
      "genvm-view",
    },
    PUBLIC_SALT = "\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000",
    CLASS_SEED = "\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000",
    STOCK_KIND = "genvm",
    STOCK_TIERS = {
      "basic",
      "standard",
      "premium",
    },
  },
  parity = {
    TEMPLATE_KEY = {
      EqComparative = "eq_comparative",
      EqNonComparativeLeader = "eq_non_comparative_leader",
      EqNonComparativeValidator = "eq_non_comparative_validator",
    },
    JSON_INSTRUCTION = "respond with a valid json object",
    STOCK_FILTERS = {
      "NFKC",
      "RmZeroWidth",
      "NormalizeWS",
    },
    TIMEOUT_FACTOR = {
      3,
      2,
    },
    TIMEOUT_MICROS = {
      1000000,
      60000000,
    },
    STATS_FILE = "stats.sqlite",
    STATS_TABLE = "CREATE TABLE IF NOT EXISTS provider_stats (model TEXT PRIMARY KEY, errors INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0)",
    STATS_ADD = "INSERT INTO provider_stats (model, errors, input_tokens, output_tokens) VALUES (?, ?, ?, ?) ON CONFLICT (model) DO UPDATE SET errors = errors + excluded.errors, input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens",
  },
}
