--- SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in pure Lua 5.3.
--
-- Spec: docs/SPEC.md §4 (Seeded randomness): the hash under identities,
-- call keys and PRNG blocks. The Python core takes both from hashlib and hmac
-- (prng.sha256, prng.hmac_sha256); tests compare the two byte for byte.
--
-- Rules:
-- 1. Words are Lua integers kept in 0 … 2^32 − 1: every value that feeds a
--    rotation or a shift is masked first, so 64-bit wrap never matters. A sum
--    is masked once at the end: its low 32 bits depend only on the low 32
--    bits of its terms, so the Σ and σ terms are added unmasked.
-- 2. A rotation right by n of a 32-bit x is the low 32 bits of
--    (x | x << 32) >> n; three of them share one spread value (Σ and σ).
-- 3. A block's 16 words are read by one `string.unpack` into 16 locals; the
--    64 rounds run sixteen at a time with the working variables renamed
--    instead of shifted, and before each later sixteen the message schedule
--    is advanced in place in those locals (no schedule table).
-- 4. `keyed(key)` precomputes the HMAC inner and outer states, so a MAC of a
--    message of at most 55 bytes costs two compressions (DESIGN cost model);
--    the outer block is the inner digest's words and a fixed padding.

-- Throughput on the project machine, idle (1 MiB input; PRNG block = one
-- `mac` of a 17-byte message; the same probe on the previous table-schedule
-- compression in brackets): lupa Lua 5.3 5.8 MB/s [4.3], 25 µs per block
-- [46], 26 µs to key HMAC [43]; Lua 5.4 8.2 MB/s [5.9], 17 µs per block [26].

local M = {}

local unpack, pack, rep, sub = string.unpack, string.pack, string.rep, string.sub

local M32 = 0xffffffff

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local H1, H2, H3, H4 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
local H5, H6, H7, H8 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19

local BLOCK_WORDS = ">" .. rep("I4", 16)
local DIGEST_WORDS = ">" .. rep("I4", 8)

-- Compress the 64-byte block of `s` at byte `pos` into state h1 … h8 (rule 3).
local function compress(s, pos, h1, h2, h3, h4, h5, h6, h7, h8)
  local w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15, w16 =
    unpack(BLOCK_WORDS, s, pos)
  local a, b, c, d, e, f, g, h = h1, h2, h3, h4, h5, h6, h7, h8
  local y, z, t1, t2
  for j = 0, 48, 16 do
    if j > 0 then
      -- The next 16 schedule words, in place: w_i now holds W[j + i].
      y, z = w2 | (w2 << 32), w15 | (w15 << 32)
      w1 = (w1 + ((y >> 7) ~ (y >> 18) ~ (w2 >> 3)) + w10
        + ((z >> 17) ~ (z >> 19) ~ (w15 >> 10))) & M32
      y, z = w3 | (w3 << 32), w16 | (w16 << 32)
      w2 = (w2 + ((y >> 7) ~ (y >> 18) ~ (w3 >> 3)) + w11
        + ((z >> 17) ~ (z >> 19) ~ (w16 >> 10))) & M32
      y, z = w4 | (w4 << 32), w1 | (w1 << 32)
      w3 = (w3 + ((y >> 7) ~ (y >> 18) ~ (w4 >> 3)) + w12
        + ((z >> 17) ~ (z >> 19) ~ (w1 >> 10))) & M32
      y, z = w5 | (w5 << 32), w2 | (w2 << 32)
      w4 = (w4 + ((y >> 7) ~ (y >> 18) ~ (w5 >> 3)) + w13
        + ((z >> 17) ~ (z >> 19) ~ (w2 >> 10))) & M32
      y, z = w6 | (w6 << 32), w3 | (w3 << 32)
      w5 = (w5 + ((y >> 7) ~ (y >> 18) ~ (w6 >> 3)) + w14
        + ((z >> 17) ~ (z >> 19) ~ (w3 >> 10))) & M32
      y, z = w7 | (w7 << 32), w4 | (w4 << 32)
      w6 = (w6 + ((y >> 7) ~ (y >> 18) ~ (w7 >> 3)) + w15
        + ((z >> 17) ~ (z >> 19) ~ (w4 >> 10))) & M32
      y, z = w8 | (w8 << 32), w5 | (w5 << 32)
      w7 = (w7 + ((y >> 7) ~ (y >> 18) ~ (w8 >> 3)) + w16
        + ((z >> 17) ~ (z >> 19) ~ (w5 >> 10))) & M32
      y, z = w9 | (w9 << 32), w6 | (w6 << 32)
      w8 = (w8 + ((y >> 7) ~ (y >> 18) ~ (w9 >> 3)) + w1
        + ((z >> 17) ~ (z >> 19) ~ (w6 >> 10))) & M32
      y, z = w10 | (w10 << 32), w7 | (w7 << 32)
      w9 = (w9 + ((y >> 7) ~ (y >> 18) ~ (w10 >> 3)) + w2
        + ((z >> 17) ~ (z >> 19) ~ (w7 >> 10))) & M32
      y, z = w11 | (w11 << 32), w8 | (w8 << 32)
      w10 = (w10 + ((y >> 7) ~ (y >> 18) ~ (w11 >> 3)) + w3
        + ((z >> 17) ~ (z >> 19) ~ (w8 >> 10))) & M32
      y, z = w12 | (w12 << 32), w9 | (w9 << 32)
      w11 = (w11 + ((y >> 7) ~ (y >> 18) ~ (w12 >> 3)) + w4
        + ((z >> 17) ~ (z >> 19) ~ (w9 >> 10))) & M32
      y, z = w13 | (w13 << 32), w10 | (w10 << 32)
      w12 = (w12 + ((y >> 7) ~ (y >> 18) ~ (w13 >> 3)) + w5
        + ((z >> 17) ~ (z >> 19) ~ (w10 >> 10))) & M32
      y, z = w14 | (w14 << 32), w11 | (w11 << 32)
      w13 = (w13 + ((y >> 7) ~ (y >> 18) ~ (w14 >> 3)) + w6
        + ((z >> 17) ~ (z >> 19) ~ (w11 >> 10))) & M32
      y, z = w15 | (w15 << 32), w12 | (w12 << 32)
      w14 = (w14 + ((y >> 7) ~ (y >> 18) ~ (w15 >> 3)) + w7
        + ((z >> 17) ~ (z >> 19) ~ (w12 >> 10))) & M32
      y, z = w16 | (w16 << 32), w13 | (w13 << 32)
      w15 = (w15 + ((y >> 7) ~ (y >> 18) ~ (w16 >> 3)) + w8
        + ((z >> 17) ~ (z >> 19) ~ (w13 >> 10))) & M32
      y, z = w1 | (w1 << 32), w14 | (w14 << 32)
      w16 = (w16 + ((y >> 7) ~ (y >> 18) ~ (w1 >> 3)) + w9
        + ((z >> 17) ~ (z >> 19) ~ (w14 >> 10))) & M32
    end
    y = e | (e << 32)
    t1 = h + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (g ~ (e & (f ~ g))) + K[j + 1] + w1
    y = a | (a << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((a & b) | (c & (a | b)))
    d = (d + t1) & M32
    h = (t1 + t2) & M32
    y = d | (d << 32)
    t1 = g + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (f ~ (d & (e ~ f))) + K[j + 2] + w2
    y = h | (h << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((h & a) | (b & (h | a)))
    c = (c + t1) & M32
    g = (t1 + t2) & M32
    y = c | (c << 32)
    t1 = f + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (e ~ (c & (d ~ e))) + K[j + 3] + w3
    y = g | (g << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((g & h) | (a & (g | h)))
    b = (b + t1) & M32
    f = (t1 + t2) & M32
    y = b | (b << 32)
    t1 = e + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (d ~ (b & (c ~ d))) + K[j + 4] + w4
    y = f | (f << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((f & g) | (h & (f | g)))
    a = (a + t1) & M32
    e = (t1 + t2) & M32
    y = a | (a << 32)
    t1 = d + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (c ~ (a & (b ~ c))) + K[j + 5] + w5
    y = e | (e << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((e & f) | (g & (e | f)))
    h = (h + t1) & M32
    d = (t1 + t2) & M32
    y = h | (h << 32)
    t1 = c + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (b ~ (h & (a ~ b))) + K[j + 6] + w6
    y = d | (d << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((d & e) | (f & (d | e)))
    g = (g + t1) & M32
    c = (t1 + t2) & M32
    y = g | (g << 32)
    t1 = b + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (a ~ (g & (h ~ a))) + K[j + 7] + w7
    y = c | (c << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((c & d) | (e & (c | d)))
    f = (f + t1) & M32
    b = (t1 + t2) & M32
    y = f | (f << 32)
    t1 = a + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (h ~ (f & (g ~ h))) + K[j + 8] + w8
    y = b | (b << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((b & c) | (d & (b | c)))
    e = (e + t1) & M32
    a = (t1 + t2) & M32
    y = e | (e << 32)
    t1 = h + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (g ~ (e & (f ~ g))) + K[j + 9] + w9
    y = a | (a << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((a & b) | (c & (a | b)))
    d = (d + t1) & M32
    h = (t1 + t2) & M32
    y = d | (d << 32)
    t1 = g + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (f ~ (d & (e ~ f))) + K[j + 10] + w10
    y = h | (h << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((h & a) | (b & (h | a)))
    c = (c + t1) & M32
    g = (t1 + t2) & M32
    y = c | (c << 32)
    t1 = f + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (e ~ (c & (d ~ e))) + K[j + 11] + w11
    y = g | (g << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((g & h) | (a & (g | h)))
    b = (b + t1) & M32
    f = (t1 + t2) & M32
    y = b | (b << 32)
    t1 = e + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (d ~ (b & (c ~ d))) + K[j + 12] + w12
    y = f | (f << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((f & g) | (h & (f | g)))
    a = (a + t1) & M32
    e = (t1 + t2) & M32
    y = a | (a << 32)
    t1 = d + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (c ~ (a & (b ~ c))) + K[j + 13] + w13
    y = e | (e << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((e & f) | (g & (e | f)))
    h = (h + t1) & M32
    d = (t1 + t2) & M32
    y = h | (h << 32)
    t1 = c + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (b ~ (h & (a ~ b))) + K[j + 14] + w14
    y = d | (d << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((d & e) | (f & (d | e)))
    g = (g + t1) & M32
    c = (t1 + t2) & M32
    y = g | (g << 32)
    t1 = b + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (a ~ (g & (h ~ a))) + K[j + 15] + w15
    y = c | (c << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((c & d) | (e & (c | d)))
    f = (f + t1) & M32
    b = (t1 + t2) & M32
    y = f | (f << 32)
    t1 = a + ((y >> 6) ~ (y >> 11) ~ (y >> 25)) + (h ~ (f & (g ~ h))) + K[j + 16] + w16
    y = b | (b << 32)
    t2 = ((y >> 2) ~ (y >> 13) ~ (y >> 22)) + ((b & c) | (d & (b | c)))
    e = (e + t1) & M32
    a = (t1 + t2) & M32
  end
  return (h1 + a) & M32, (h2 + b) & M32, (h3 + c) & M32, (h4 + d) & M32,
    (h5 + e) & M32, (h6 + f) & M32, (h7 + g) & M32, (h8 + h) & M32
end

-- Hash `data` onto a state that has already absorbed `done` bytes (a whole
-- number of blocks) and return the 32-byte digest.
local function finish(data, done, h1, h2, h3, h4, h5, h6, h7, h8)
  local n = #data
  local full = n - n % 64
  for pos = 1, full, 64 do
    h1, h2, h3, h4, h5, h6, h7, h8 = compress(data, pos, h1, h2, h3, h4, h5, h6, h7, h8)
  end
  local rest = n - full
  -- 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit big-endian.
  local zeros = (55 - rest) % 64
  local tail = sub(data, full + 1) .. "\128" .. rep("\0", zeros) .. pack(">I8", (done + n) * 8)
  for pos = 1, #tail, 64 do
    h1, h2, h3, h4, h5, h6, h7, h8 = compress(tail, pos, h1, h2, h3, h4, h5, h6, h7, h8)
  end
  return pack(DIGEST_WORDS, h1, h2, h3, h4, h5, h6, h7, h8)
end

--- SHA-256 of the byte string `s`: 32 raw bytes.
function M.sha256(s)
  return finish(s, 0, H1, H2, H3, H4, H5, H6, H7, H8)
end

local KEY_WORDS = "<" .. rep("i8", 8)

-- The key block XORed with a pad byte, per RFC 2104: eight 8-byte words, each
-- XORed with the pad byte repeated (a wrapping product, the same bit pattern).
local function padded(key, pad)
  local p = pad * 0x0101010101010101
  local k1, k2, k3, k4, k5, k6, k7, k8 = unpack(KEY_WORDS, key .. rep("\0", 64 - #key))
  return pack(KEY_WORDS, k1 ~ p, k2 ~ p, k3 ~ p, k4 ~ p, k5 ~ p, k6 ~ p, k7 ~ p, k8 ~ p)
end

local Keyed = {}
Keyed.__index = Keyed

--- Precompute HMAC-SHA256 state for `key` (any length; keys over 64 bytes
--- are hashed first, per RFC 2104). Returns an object with `mac(msg)`.
function M.keyed(key)
  if #key > 64 then
    key = M.sha256(key)
  end
  local self = setmetatable({}, Keyed)
  self.inner = { compress(padded(key, 0x36), 1, H1, H2, H3, H4, H5, H6, H7, H8) }
  self.outer = { compress(padded(key, 0x5c), 1, H1, H2, H3, H4, H5, H6, H7, H8) }
  return self
end

-- The outer message after the key block: 32 digest bytes, then the padding of
-- a 96-byte message (0x80, 23 zero bytes, the bit length 768).
local OUTER_PAD = "\128" .. rep("\0", 23) .. pack(">I8", 96 * 8)

--- HMAC-SHA256 of `msg` under the precomputed key: 32 raw bytes.
function Keyed:mac(msg)
  local i, o = self.inner, self.outer
  local n = #msg
  local d1, d2, d3, d4, d5, d6, d7, d8
  if n <= 55 then
    -- One block: the message and its padding after the 64-byte key block.
    d1, d2, d3, d4, d5, d6, d7, d8 = compress(msg .. "\128" .. rep("\0", 55 - n)
      .. pack(">I8", (64 + n) * 8), 1, i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8])
  else
    d1, d2, d3, d4, d5, d6, d7, d8 = unpack(DIGEST_WORDS,
      finish(msg, 64, i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8]))
  end
  return pack(DIGEST_WORDS, compress(pack(DIGEST_WORDS, d1, d2, d3, d4, d5, d6, d7, d8)
    .. OUTER_PAD, 1, o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8]))
end

--- HMAC-SHA256 (RFC 2104) of `msg` under `key`: 32 raw bytes.
function M.hmac_sha256(key, msg)
  return M.keyed(key):mac(msg)
end

return M
