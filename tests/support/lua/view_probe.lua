-- The runtime's GenVM view of the providers the host offers, as canonical CBOR in hex, so
-- the bytes cross into Python untouched.
local encoding = require("genvm_policy.encoding")
local catalog = require("genvm_policy.catalog")
local bytes = encoding.encode(catalog.view_from_providers(__llm.providers))
return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
