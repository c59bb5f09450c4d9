--- Seeded randomness: HMAC-SHA256 call keys and labelled counter-mode streams.
--
-- Spec: docs/SPEC.md §4 (Seeded randomness). Mirrors genvm_policy/prng.py;
-- the hash functions themselves live in genvm_policy/sha256.lua and are
-- re-exported here under the reference's names.
--
-- Rules:
-- 1. SHA-256 is FIPS 180-4; HMAC-SHA256 is RFC 2104 over SHA-256 (64-byte block).
-- 2. The call key is `HMAC(salt, "genvm-policy/v1/call-key" || 0x00 || cbor(material))`
--    with a 32-byte salt; a key given directly has 1 … 64 bytes (`PRNG_KEY`).
-- 3. The seed commitment is `identity("seed-commitment", key)`.
-- 4. A stream is `(key, label)`; block `i` is `HMAC(key, label || 0x00 || u32be(i))`
--    and the stream's bytes are blocks 0, 1, … in order. Labels are 1 … 48 bytes
--    of UTF-8 without NUL (`PRNG_LABEL`); indexes stay below 2^32 (`PRNG_INDEX`).
-- 5. `u53` is the top 53 bits of the next 8 bytes read big-endian, `u32` the next
--    4 bytes; `below(n)` draws `u32` when `n ≤ 2^32` (else `u53`) and rejects
--    draws at or above `W − (W mod n)`, `W` the draw's range, so every result
--    is equally likely.
-- 6. A stream may be opened behind a *head*: given bytes read first, then the
--    stream's own blocks, so purposes that share one block read only their part.
--
-- Keys, salts and the bytes a stream yields are plain Lua strings. A stream
-- keeps its key's HMAC states (sha256.keyed), and a label of at most 48
-- bytes makes each block's inner message fit one SHA-256 block: two
-- compressions per 32 bytes drawn.

local encoding = require("genvm_policy.encoding")
local errors = require("genvm_policy.errors")
local identity = require("genvm_policy.identity")
local sha256 = require("genvm_policy.sha256")

local M = {}

local T = require("genvm_policy.tables").prng
--- The length of a node's secret salt.
M.SALT_BYTES = T.SALT_BYTES
--- The longest key a stream accepts: one HMAC block, so it is never pre-hashed.
M.MAX_KEY_BYTES = T.MAX_KEY_BYTES
--- The longest stream label: label, NUL and index then fit one HMAC block.
M.MAX_LABEL_BYTES = T.MAX_LABEL_BYTES
--- The number of blocks of one stream (indexes are 4-byte big-endian).
M.BLOCKS = T.BLOCKS
--- The number of values `u53` draws from.
M.TOP = T.TOP
--- The number of values `u32` draws from: `below` uses it for bounds up to WORD.
M.WORD = T.WORD
--- The domain tag in front of the per-call material (rule 2).
M.CALL_KEY_TAG = T.CALL_KEY_TAG

local TOP, WORD, BLOCKS = M.TOP, M.WORD, M.BLOCKS

--- SHA-256 of `data` (FIPS 180-4): 32 raw bytes.
M.sha256 = sha256.sha256

--- HMAC-SHA256 of `msg` under `key` (RFC 2104): 32 raw bytes.
M.hmac_sha256 = sha256.hmac_sha256

local function check_key(key, low, high, what)
  if type(key) ~= "string" or #key < low or #key > high then
    local size = low == high and tostring(low) or (low .. " … " .. high)
    errors.raise("PRNG_KEY", {}, "the " .. what .. " must be " .. size .. " bytes",
      "a node salt is 32 random bytes; a seed is 1 … 64 bytes written as hex")
  end
end

local function check_label(label)
  if type(label) ~= "string" or #label < 1 or #label > M.MAX_LABEL_BYTES
      or label:find("\0", 1, true) or not encoding.valid_utf8(label) then
    local shown = type(label) == "string" and label:sub(1, 60) or tostring(label)
    errors.raise("PRNG_LABEL", {}, "the stream label `" .. shown .. "` is not 1 … "
      .. M.MAX_LABEL_BYTES .. " bytes of UTF-8 without NUL")
  end
end

local function check_index(index)
  if math.type(index) ~= "integer" or index < 0 or index >= BLOCKS then
    errors.raise("PRNG_INDEX", {}, "the block index `" .. tostring(index)
      .. "` is outside 0 … 2^32 − 1")
  end
end

--- The 32-byte key of one call from the node's salt and its material (rule 2).
--- Raises `PRNG_KEY` unless the salt has 32 bytes, `PRNG_MATERIAL` unless the
--- material is a map, and the codes of `encoding.encode`.
function M.call_key(salt, material)
  check_key(salt, M.SALT_BYTES, M.SALT_BYTES, "node salt")
  if encoding.kind(material) ~= "map" then
    errors.raise("PRNG_MATERIAL", {}, "the per-call material must be a map")
  end
  return sha256.hmac_sha256(salt, M.CALL_KEY_TAG .. encoding.encode(material))
end

--- The publishable commitment to a call key (rule 3). Raises `PRNG_KEY`.
function M.seed_commitment(key)
  check_key(key, 1, M.MAX_KEY_BYTES, "seed")
  return identity.identity("seed-commitment", encoding.bytes(key))
end

-- One decision opens several streams under the same key; keying HMAC costs two
-- compressions, so the last key's states are kept. A pure function of the key,
-- never mutated after creation: safe when sessions interleave in one VM.
local last_key, last_mac

local function keyed(key)
  if key ~= last_key then
    last_key, last_mac = key, sha256.keyed(key)
  end
  return last_mac
end

--- Block `index` of the stream `(key, label)` (rule 4).
--- Raises `PRNG_KEY`, `PRNG_LABEL`, or `PRNG_INDEX` unless `0 ≤ index < 2^32`.
function M.stream_block(key, label, index)
  check_key(key, 1, M.MAX_KEY_BYTES, "seed")
  check_label(label)
  check_index(index)
  return keyed(key):mac(label .. "\0" .. string.pack(">I4", index))
end

local Stream = {}
Stream.__index = Stream

--- Open the stream `(key, label)`, read after the bytes `head` if given (rules 4
--- to 6). Raises `PRNG_KEY`, `PRNG_LABEL`.
function M.stream(key, label, head)
  check_key(key, 1, M.MAX_KEY_BYTES, "seed")
  check_label(label)
  -- `block` is the last block made and `used` how many of its bytes were read;
  -- an unopened stream is an empty block fully read, or its head unread.
  return setmetatable({
    mac = keyed(key),
    prefix = label .. "\0",
    next_block = 0,
    block = head or "",
    used = 0,
  }, Stream)
end

-- Make the next block of the stream.
local function advance(self)
  check_index(self.next_block)
  self.block = self.mac:mac(self.prefix .. string.pack(">I4", self.next_block))
  self.next_block = self.next_block + 1
  self.used = 0
end

--- The next `n` bytes of the stream; `n` must be a non-negative integer.
function Stream:read(n)
  if math.type(n) ~= "integer" or n < 0 then
    error("a stream reads a non-negative integer number of bytes", 2)
  end
  local parts, want = {}, n
  while want > 0 do
    if self.used == #self.block then
      advance(self)
    end
    local take = math.min(want, #self.block - self.used)
    parts[#parts + 1] = self.block:sub(self.used + 1, self.used + take)
    self.used, want = self.used + take, want - take
  end
  return table.concat(parts)
end

--- The top 53 bits of the next 8 bytes, read as a big-endian integer (rule 5).
function Stream:u53()
  local used = self.used
  local hi, lo
  if used + 8 <= #self.block then
    -- The common case: the 8 bytes lie in the current block, read in place.
    hi, lo = string.unpack(">I4I4", self.block, used + 1)
    self.used = used + 8
  else
    -- Two 32-bit halves: ">I8" reads values of 2^63 and up as negative.
    hi, lo = string.unpack(">I4I4", self:read(8))
  end
  return (hi << 21) | (lo >> 11)
end

--- The next 4 bytes, read as a big-endian integer (rule 5).
function Stream:u32()
  local used = self.used
  if used + 4 <= #self.block then
    self.used = used + 4
    return (string.unpack(">I4", self.block, used + 1))
  end
  return (string.unpack(">I4", self:read(4)))
end

--- A uniform draw from `0 … n − 1`, `1 ≤ n ≤ 2^53` (rule 5). Raises `PRNG_BOUND`.
function Stream:below(n)
  if math.type(n) ~= "integer" or n < 1 or n > TOP then
    errors.raise("PRNG_BOUND", {}, "a draw below `" .. tostring(n)
      .. "` is outside the range 1 … 2^53")
  end
  local draw, size = Stream.u32, WORD
  if n > WORD then
    draw, size = Stream.u53, TOP
  end
  local limit = size - size % n
  while true do
    local r = draw(self)
    if r < limit then
      return r % n
    end
  end
end

return M
