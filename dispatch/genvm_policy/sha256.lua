--- SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in pure Lua 5.3.
--
-- Spec: docs/SPEC.md §4 (Seeded randomness): the hash under identities,
-- call keys and PRNG blocks. The Python core takes both from hashlib and hmac
-- (prng.sha256, prng.hmac_sha256); tests compare the two byte for byte.
--
-- Rules:
-- 1. Only the low 32 bits of any Lua integer here are the word; the high bits
--    may hold anything, because the low 32 bits of a sum, xor, and, or product
--    depend only on the low 32 bits of the operands. A value is masked only
--    where it must be exact: before a right shift or a spread (rule 2), and in
--    the returned state.
-- 2. The working variables a … h hold each word spread, x · (2^32 + 1): the
--    word in both 32-bit halves, so a rotation right by n < 32 is one shift
--    (the low 32 bits of spread >> n). A new a or e is masked and multiplied
--    once, and every Σ, Ch and Maj reads the spread directly.
-- 3. Schedule words stay exact (σ needs plain shifts as well as rotations);
--    they live in 16 locals and each is advanced in place just before the
--    round that uses it (no schedule table).
-- 4. The 64 rounds are written out with the working variables renamed instead
--    of shifted and each round constant inline: no loop, no table read.
--    Maj(a, b, c) is b ~ ((a ~ b) & (b ~ c)), and b ~ c is the previous
--    round's a ~ b, carried in u and v by turns. The written-out rounds are
--    why this file is longer than the 400 lines a module aims at: every pure-
--    Lua hash on the node (PRNG blocks, call keys, identities) runs here.
-- 5. `compress` takes the block as 16 words, so the HMAC outer block (digest
--    words and a fixed padding) is never built as a string. `keyed(key)`
--    precomputes the HMAC inner and outer states, so a MAC of a message of at
--    most 55 bytes costs two compressions (DESIGN cost model).

-- Speed on the project machine, this version against the previous one (16
-- rounds per loop pass, words kept exact, rotations as (x | x << 32) >> n) in
-- brackets, measured side by side, best of 12 (PRNG block = one `mac` of a
-- 17-byte message; keying = `keyed` of a 32-byte key; 1 MiB for throughput):
-- lupa Lua 5.3: 7.2 MB/s [5.9], 18 µs per block [23], 19 µs to key [25];
-- Lua 5.4: 10.4 MB/s [8.1], 12 µs per block [16], 13 µs to key [19].
-- A sampled-jitter decision at 100 routes (lupa Lua 5.3, median), at the time
-- of this change: 378 µs [445]; see benchmarks/README.md for the current figure.

local M = {}

local unpack, pack, rep, sub = string.unpack, string.pack, string.rep, string.sub

local H1, H2, H3, H4 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
local H5, H6, H7, H8 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19

local BLOCK_WORDS = ">" .. rep("I4", 16)
local DIGEST_WORDS = ">" .. rep("I4", 8)

-- Compress the block w1 … w16 into the state h1 … h8 and return the new
-- state. The round constants are FIPS 180-4's K, in round order.
local function compress(h1, h2, h3, h4, h5, h6, h7, h8,
    w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15, w16)
  local M32, S = 0xffffffff, 0x100000001
  -- Only a and e are read spread before a round has written them (rule 2).
  local a, b, c, d, e, f, g, h = h1 * S, h2, h3, h4, h5 * S, h6, h7, h8
  local t, y, z, u
  local v = b ~ c
  -- Rounds 1 … 16 read the block's words as they are.
  t = h + ((e >> 6) ~ (e >> 11) ~ (e >> 25)) + (g ~ (e & (f ~ g))) + 0x428a2f98 + w1
  d = ((d + t) & M32) * S
  u = a ~ b
  h = ((t + ((a >> 2) ~ (a >> 13) ~ (a >> 22)) + (b ~ (u & v))) & M32) * S
  t = g + ((d >> 6) ~ (d >> 11) ~ (d >> 25)) + (f ~ (d & (e ~ f))) + 0x71374491 + w2
  c = ((c + t) & M32) * S
  v = h ~ a
  g = ((t + ((h >> 2) ~ (h >> 13) ~ (h >> 22)) + (a ~ (v & u))) & M32) * S
  t = f + ((c >> 6) ~ (c >> 11) ~ (c >> 25)) + (e ~ (c & (d ~ e))) + 0xb5c0fbcf + w3
  b = ((b + t) & M32) * S
  u = g ~ h
  f = ((t + ((g >> 2) ~ (g >> 13) ~ (g >> 22)) + (h ~ (u & v))) & M32) * S
  t = e + ((b >> 6) ~ (b >> 11) ~ (b >> 25)) + (d ~ (b & (c ~ d))) + 0xe9b5dba5 + w4
  a = ((a + t) & M32) * S
  v = f ~ g
  e = ((t + ((f >> 2) ~ (f >> 13) ~ (f >> 22)) + (g ~ (v & u))) & M32) * S
  t = d + ((a >> 6) ~ (a >> 11) ~ (a >> 25)) + (c ~ (a & (b ~ c))) + 0x3956c25b + w5
  h = ((h + t) & M32) * S
  u = e ~ f
  d = ((t + ((e >> 2) ~ (e >> 13) ~ (e >> 22)) + (f ~ (u & v))) & M32) * S
  t = c + ((h >> 6) ~ (h >> 11) ~ (h >> 25)) + (b ~ (h & (a ~ b))) + 0x59f111f1 + w6
  g = ((g + t) & M32) * S
  v = d ~ e
  c = ((t + ((d >> 2) ~ (d >> 13) ~ (d >> 22)) + (e ~ (v & u))) & M32) * S
  t = b + ((g >> 6) ~ (g >> 11) ~ (g >> 25)) + (a ~ (g & (h ~ a))) + 0x923f82a4 + w7
  f = ((f + t) & M32) * S
  u = c ~ d
  b = ((t + ((c >> 2) ~ (c >> 13) ~ (c >> 22)) + (d ~ (u & v))) & M32) * S
  t = a + ((f >> 6) ~ (f >> 11) ~ (f >> 25)) + (h ~ (f & (g ~ h))) + 0xab1c5ed5 + w8
  e = ((e + t) & M32) * S
  v = b ~ c
  a = ((t + ((b >> 2) ~ (b >> 13) ~ (b >> 22)) + (c ~ (v & u))) & M32) * S
  t = h + ((e >> 6) ~ (e >> 11) ~ (e >> 25)) + (g ~ (e & (f ~ g))) + 0xd807aa98 + w9
  d = ((d + t) & M32) * S
  u = a ~ b
  h = ((t + ((a >> 2) ~ (a >> 13) ~ (a >> 22)) + (b ~ (u & v))) & M32) * S
  t = g + ((d >> 6) ~ (d >> 11) ~ (d >> 25)) + (f ~ (d & (e ~ f))) + 0x12835b01 + w10
  c = ((c + t) & M32) * S
  v = h ~ a
  g = ((t + ((h >> 2) ~ (h >> 13) ~ (h >> 22)) + (a ~ (v & u))) & M32) * S
  t = f + ((c >> 6) ~ (c >> 11) ~ (c >> 25)) + (e ~ (c & (d ~ e))) + 0x243185be + w11
  b = ((b + t) & M32) * S
  u = g ~ h
  f = ((t + ((g >> 2) ~ (g >> 13) ~ (g >> 22)) + (h ~ (u & v))) & M32) * S
  t = e + ((b >> 6) ~ (b >> 11) ~ (b >> 25)) + (d ~ (b & (c ~ d))) + 0x550c7dc3 + w12
  a = ((a + t) & M32) * S
  v = f ~ g
  e = ((t + ((f >> 2) ~ (f >> 13) ~ (f >> 22)) + (g ~ (v & u))) & M32) * S
  t = d + ((a >> 6) ~ (a >> 11) ~ (a >> 25)) + (c ~ (a & (b ~ c))) + 0x72be5d74 + w13
  h = ((h + t) & M32) * S
  u = e ~ f
  d = ((t + ((e >> 2) ~ (e >> 13) ~ (e >> 22)) + (f ~ (u & v))) & M32) * S
  t = c + ((h >> 6) ~ (h >> 11) ~ (h >> 25)) + (b ~ (h & (a ~ b))) + 0x80deb1fe + w14
  g = ((g + t) & M32) * S
  v = d ~ e
  c = ((t + ((d >> 2) ~ (d >> 13) ~ (d >> 22)) + (e ~ (v & u))) & M32) * S
  t = b + ((g >> 6) ~ (g >> 11) ~ (g >> 25)) + (a ~ (g & (h ~ a))) + 0x9bdc06a7 + w15
  f = ((f + t) & M32) * S
  u = c ~ d
  b = ((t + ((c >> 2) ~ (c >> 13) ~ (c >> 22)) + (d ~ (u & v))) & M32) * S
  t = a + ((f >> 6) ~ (f >> 11) ~ (f >> 25)) + (h ~ (f & (g ~ h))) + 0xc19bf174 + w16
  e = ((e + t) & M32) * S
  v = b ~ c
  a = ((t + ((b >> 2) ~ (b >> 13) ~ (b >> 22)) + (c ~ (v & u))) & M32) * S
  -- Rounds 17 … 32: each first advances its schedule word in place (w_i becomes W[16 + i]).
  y = w2 * S
  z = w15 * S
  w1 = (w1 + ((y >> 7) ~ (y >> 18) ~ (w2 >> 3)) + w10 + ((z >> 17) ~ (z >> 19) ~ (w15 >> 10))) & M32
  t = h + ((e >> 6) ~ (e >> 11) ~ (e >> 25)) + (g ~ (e & (f ~ g))) + 0xe49b69c1 + w1
  d = ((d + t) & M32) * S
  u = a ~ b
  h = ((t + ((a >> 2) ~ (a >> 13) ~ (a >> 22)) + (b ~ (u & v))) & M32) * S
  y = w3 * S
  z = w16 * S
  w2 = (w2 + ((y >> 7) ~ (y >> 18) ~ (w3 >> 3)) + w11 + ((z >> 17) ~ (z >> 19) ~ (w16 >> 10))) & M32
  t = g + ((d >> 6) ~ (d >> 11) ~ (d >> 25)) + (f ~ (d & (e ~ f))) + 0xefbe4786 + w2
  c = ((c + t) & M32) * S
  v = h ~ a
  g = ((t + ((h >> 2) ~ (h >> 13) ~ (h >> 22)) + (a ~ (v & u))) & M32) * S
  y = w4 * S
  z = w1 * S
  w3 = (w3 + ((y >> 7) ~ (y >> 18) ~ (w4 >> 3)) + w12 + ((z >> 17) ~ (z >> 19) ~ (w1 >> 10))) & M32
  t = f + ((c >> 6) ~ (c >> 11) ~ (c >> 25)) + (e ~ (c & (d ~ e))) + 0x0fc19dc6 + w3
  b = ((b + t) & M32) * S
  u = g ~ h
  f = ((t + ((g >> 2) ~ (g >> 13) ~ (g >> 22)) + (h ~ (u & v))) & M32) * S
  y = w5 * S
  z = w2 * S
  w4 = (w4 + ((y >> 7) ~ (y >> 18) ~ (w5 >> 3)) + w13 + ((z >> 17) ~ (z >> 19) ~ (w2 >> 10))) & M32
  t = e + ((b >> 6) ~ (b >> 11) ~ (b >> 25)) + (d ~ (b & (c ~ d))) + 0x240ca1cc + w4
  a = ((a + t) & M32) * S
  v = f ~ g
  e = ((t + ((f >> 2) ~ (f >> 13) ~ (f >> 22)) + (g ~ (v & u))) & M32) * S
  y = w6 * S
  z = w3 * S
  w5 = (w5 + ((y >> 7) ~ (y >> 18) ~ (w6 >> 3)) + w14 + ((z >> 17) ~ (z >> 19) ~ (w3 >> 10))) & M32
  t = d + ((a >> 6) ~ (a >> 11) ~ (a >> 25)) + (c ~ (a & (b ~ c))) + 0x2de92c6f + w5
  h = ((h + t) & M32) * S
  u = e ~ f
  d = ((t + ((e >> 2) ~ (e >> 13) ~ (e >> 22)) + (f ~ (u & v))) & M32) * S
  y = w7 * S
  z = w4 * S
  w6 = (w6 + ((y >> 7) ~ (y >> 18) ~ (w7 >> 3)) + w15 + ((z >> 17) ~ (z >> 19) ~ (w4 >> 10))) & M32
  t = c + ((h >> 6) ~ (h >> 11) ~ (h >> 25)) + (b ~ (h & (a ~ b))) + 0x4a7484aa + w6
  g = ((g + t) & M32) * S
  v = d ~ e
  c = ((t + ((d >> 2) ~ (d >> 13) ~ (d >> 22)) + (e ~ (v & u))) & M32) * S
  y = w8 * S
  z = w5 * S
  w7 = (w7 + ((y >> 7) ~ (y >> 18) ~ (w8 >> 3)) + w16 + ((z >> 17) ~ (z >> 19) ~ (w5 >> 10))) & M32
  t = b + ((g >> 6) ~ (g >> 11) ~ (g >> 25)) + (a ~ (g & (h ~ a))) + 0x5cb0a9dc + w7
  f = ((f + t) & M32) * S
  u = c ~ d
  b = ((t + ((c >> 2) ~ (c >> 13) ~ (c >> 22)) + (d ~ (u & v))) & M32) * S
  y = w9 * S
  z = w6 * S
  w8 = (w8 + ((y >> 7) ~ (y >> 18) ~ (w9 >> 3)) + w1 + ((z >> 17) ~ (z >> 19) ~ (w6 >> 10))) & M32
  t = a + ((f >> 6) ~ (f >> 11) ~ (f >> 25)) + (h ~ (f & (g ~ h))) + 0x76f988da + w8
  e = ((e + t) & M32) * S
  v = b ~ c
  a = ((t + ((b >> 2) ~ (b >> 13) ~ (b >> 22)) + (c ~ (v & u))) & M32) * S
  y = w10 * S
  z = w7 * S
  w9 = (w9 + ((y >> 7) ~ (y >> 18) ~ (w10 >> 3)) + w2 + ((z >> 17) ~ (z >> 19) ~ (w7 >> 10))) & M32
  t = h + ((e >> 6) ~ (e >> 11) ~ (e >> 25)) + (g ~ (e & (f ~ g))) + 0x983e5152 + w9
  d = ((d + t) & M32) * S
  u = a ~ b
  h = ((t + ((a >> 2) ~ (a >> 13) ~ (a >> 22)) + (b ~ (u & v))) & M32) * S
  y = w11 * S
  z = w8 * S
  w10 = (w10 + ((y >> 7) ~ (y >> 18) ~ (w11 >> 3)) + w3 + ((z >> 17) ~ (z >> 19) ~ (w8 >> 10))) & M32
  t = g + ((d >> 6) ~ (d >> 11) ~ (d >> 25)) + (f ~ (d & (e ~ f))) + 0xa831c66d + w10
  c = ((c + t) & M32) * S
  v = h ~ a
  g = ((t + ((h >> 2) ~ (h >> 13) ~ (h >> 22)) + (a ~ (v & u))) & M32) * S
  y = w12 * S
  z = w9 * S
  w11 = (w11 + ((y >> 7) ~ (y >> 18) ~ (w12 >> 3)) + w4 + ((z >> 17) ~ (z >> 19) ~ (w9 >> 10))) & M32
  t = f + ((c >> 6) ~ (c >> 11) ~ (c >> 25)) + (e ~ (c & (d ~ e))) + 0xb00327c8 + w11
  b = ((b + t) & M32) * S
  u = g ~ h
  f = ((t + ((g >> 2) ~ (g >> 13) ~ (g >> 22)) + (h ~ (u & v))) & M32) * S
  y = w13 * S
  z = w10 * S
  w12 = (w12 + ((y >> 7) ~ (y >> 18) ~ (w13 >> 3)) + w5 + ((z >> 17) ~ (z >> 19) ~ (w10 >> 10))) & M32
  t = e + ((b >> 6) ~ (b >> 11) ~ (b >> 25)) + (d ~ (b & (c ~ d))) + 0xbf597fc7 + w12
  a = ((a + t) & M32) * S
  v = f ~ g
  e = ((t + ((f >> 2) ~ (f >> 13) ~ (f >> 22)) + (g ~ (v & u))) & M32) * S
  y = w14 * S
  z = w11 * S
  w13 = (w13 + ((y >> 7) ~ (y >> 18) ~ (w14 >> 3)) + w6 + ((z >> 17) ~ (z >> 19) ~ (w11 >> 10))) & M32
  t = d + ((a >> 6) ~ (a >> 11) ~ (a >> 25)) + (c ~ (a & (b ~ c))) + 0xc6e00bf3 + w13
  h = ((h + t) & M32) * S
  u = e ~ f
  d = ((t + ((e >> 2) ~ (e >> 13) ~ (e >> 22)) + (f ~ (u & v))) & M32) * S
  y = w15 * S
  z = w12 * S
  w14 = (w14 + ((y >> 7) ~ (y >> 18) ~ (w15 >> 3)) + w7 + ((z >> 17) ~ (z >> 19) ~ (w12 >> 10))) & M32
  t = c + ((h >> 6) ~ (h >> 11) ~ (h >> 25)) + (b ~ (h & (a ~ b))) + 0xd5a79147 + w14
  g = ((g + t) & M32) * S
  v = d ~ e
  c = ((t + ((d >> 2) ~ (d >> 13) ~ (d >> 22)) + (e ~ (v & u))) & M32) * S
  y = w16 * S
  z = w13 * S
  w15 = (w15 + ((y >> 7) ~ (y >> 18) ~ (w16 >> 3)) + w8 + ((z >> 17) ~ (z >> 19) ~ (w13 >> 10))) & M32
  t = b + ((g >> 6) ~ (g >> 11) ~ (g >> 25)) + (a ~ (g & (h ~ a))) + 0x06ca6351 + w15
  f = ((f + t) & M32) * S
  u = c ~ d
  b = ((t + ((c >> 2) ~ (c >> 13) ~ (c >> 22)) + (d ~ (u & v))) & M32) * S
  y = w1 * S
  z = w14 * S
  w16 = (w16 + ((y >> 7) ~ (y >> 18) ~ (w1 >> 3)) + w9 + ((z >> 17) ~ (z >> 19) ~ (w14 >> 10))) & M32
  t = a + ((f >> 6) ~ (f >> 11) ~ (f >> 25)) + (h ~ (f & (g ~ h))) + 0x14292967 + w16
  e = ((e + t) & M32) * S
  v = b ~ c
  a = ((t + ((b >> 2) ~ (b >> 13) ~ (b >> 22)) + (c ~ (v & u))) & M32) * S
  -- Rounds 33 … 48: each first advances its schedule word in place (w_i becomes W[32 + i]).
  y = w2 * S
  z = w15 * S
  w1 = (w1 + ((y >> 7) ~ (y >> 18) ~ (w2 >> 3)) + w10 + ((z >> 17) ~ (z >> 19) ~ (w15 >> 10))) & M32
  t = h + ((e >> 6) ~ (e >> 11) ~ (e >> 25)) + (g ~ (e & (f ~ g))) + 0x27b70a85 + w1
  d = ((d + t) & M32) * S
  u = a ~ b
  h = ((t + ((a >> 2) ~ (a >> 13) ~ (a >> 22)) + (b ~ (u & v))) & M32) * S
  y = w3 * S
  z = w16 * S
  w2 = (w2 + ((y >> 7) ~ (y >> 18) ~ (w3 >> 3)) + w11 + ((z >> 17) ~ (z >> 19) ~ (w16 >> 10))) & M32
  t = g + ((d >> 6) ~ (d >> 11) ~ (d >> 25)) + (f ~ (d & (e ~ f))) + 0x2e1b2138 + w2
  c = ((c + t) & M32) * S
  v = h ~ a
  g = ((t + ((h >> 2) ~ (h >> 13) ~ (h >> 22)) + (a ~ (v & u))) & M32) * S
  y = w4 * S
  z = w1 * S
  w3 = (w3 + ((y >> 7) ~ (y >> 18) ~ (w4 >> 3)) + w12 + ((z >> 17) ~ (z >> 19) ~ (w1 >> 10))) & M32
  t = f + ((c >> 6) ~ (c >> 11) ~ (c >> 25)) + (e ~ (c & (d ~ e))) + 0x4d2c6dfc + w3
  b = ((b + t) & M32) * S
  u = g ~ h
  f = ((t + ((g >> 2) ~ (g >> 13) ~ (g >> 22)) + (h ~ (u & v))) & M32) * S
  y = w5 * S
  z = w2 * S
  w4 = (w4 + ((y >> 7) ~ (y >> 18) ~ (w5 >> 3)) + w13 + ((z >> 17) ~ (z >> 19) ~ (w2 >> 10))) & M32
  t = e + ((b >> 6) ~ (b >> 11) ~ (b >> 25)) + (d ~ (b & (c ~ d))) + 0x53380d13 + w4
  a = ((a + t) & M32) * S
  v = f ~ g
  e = ((t + ((f >> 2) ~ (f >> 13) ~ (f >> 22)) + (g ~ (v & u))) & M32) * S
  y = w6 * S
  z = w3 * S
  w5 = (w5 + ((y >> 7) ~ (y >> 18) ~ (w6 >> 3)) + w14 + ((z >> 17) ~ (z >> 19) ~ (w3 >> 10))) & M32
  t = d + ((a >> 6) ~ (a >> 11) ~ (a >> 25)) + (c ~ (a & (b ~ c))) + 0x650a7354 + w5
  h = ((h + t) & M32) * S
  u = e ~ f
  d = ((t + ((e >> 2) ~ (e >> 13) ~ (e >> 22)) + (f ~ (u & v))) & M32) * S
  y = w7 * S
  z = w4 * S
  w6 = (w6 + ((y >> 7) ~ (y >> 18) ~ (w7 >> 3)) + w15 + ((z >> 17) ~ (z >> 19) ~ (w4 >> 10))) & M32
  t = c + ((h >> 6) ~ (h >> 11) ~ (h >> 25)) + (b ~ (h & (a ~ b))) + 0x766a0abb + w6
  g = ((g + t) & M32) * S
  v = d ~ e
  c = ((t + ((d >> 2) ~ (d >> 13) ~ (d >> 22)) + (e ~ (v & u))) & M32) * S
  y = w8 * S
  z = w5 * S
  w7 = (w7 + ((y >> 7) ~ (y >> 18) ~ (w8 >> 3)) + w16 + ((z >> 17) ~ (z >> 19) ~ (w5 >> 10))) & M32
  t = b + ((g >> 6) ~ (g >> 11) ~ (g >> 25)) + (a ~ (g & (h ~ a))) + 0x81c2c92e + w7
  f = ((f + t) & M32) * S
  u = c ~ d
  b = ((t + ((c >> 2) ~ (c >> 13) ~ (c >> 22)) + (d ~ (u & v))) & M32) * S
  y = w9 * S
  z = w6 * S
  w8 = (w8 + ((y >> 7) ~ (y >> 18) ~ (w9 >> 3)) + w1 + ((z >> 17) ~ (z >> 19) ~ (w6 >> 10))) & M32
  t = a + ((f >> 6) ~ (f >> 11) ~ (f >> 25)) + (h ~ (f & (g ~ h))) + 0x92722c85 + w8
  e = ((e + t) & M32) * S
  v = b ~ c
  a = ((t + ((b >> 2) ~ (b >> 13) ~ (b >> 22)) + (c ~ (v & u))) & M32) * S
  y = w10 * S
  z = w7 * S
  w9 = (w9 + ((y >> 7) ~ (y >> 18) ~ (w10 >> 3)) + w2 + ((z >> 17) ~ (z >> 19) ~ (w7 >> 10))) & M32
  t = h + ((e >> 6) ~ (e >> 11) ~ (e >> 25)) + (g ~ (e & (f ~ g))) + 0xa2bfe8a1 + w9
  d = ((d + t) & M32) * S
  u = a ~ b
  h = ((t + ((a >> 2) ~ (a >> 13) ~ (a >> 22)) + (b ~ (u & v))) & M32) * S
  y = w11 * S
  z = w8 * S
  w10 = (w10 + ((y >> 7) ~ (y >> 18) ~ (w11 >> 3)) + w3 + ((z >> 17) ~ (z >> 19) ~ (w8 >> 10))) & M32
  t = g + ((d >> 6) ~ (d >> 11) ~ (d >> 25)) + (f ~ (d & (e ~ f))) + 0xa81a664b + w10
  c = ((c + t) & M32) * S
  v = h ~ a
  g = ((t + ((h >> 2) ~ (h >> 13) ~ (h >> 22)) + (a ~ (v & u))) & M32) * S
  y = w12 * S
  z = w9 * S
  w11 = (w11 + ((y >> 7) ~ (y >> 18) ~ (w12 >> 3)) + w4 + ((z >> 17) ~ (z >> 19) ~ (w9 >> 10))) & M32
  t = f + ((c >> 6) ~ (c >> 11) ~ (c >> 25)) + (e ~ (c & (d ~ e))) + 0xc24b8b70 + w11
  b = ((b + t) & M32) * S
  u = g ~ h
  f = ((t + ((g >> 2) ~ (g >> 13) ~ (g >> 22)) + (h ~ (u & v))) & M32) * S
  y = w13 * S
  z = w10 * S
  w12 = (w12 + ((y >> 7) ~ (y >> 18) ~ (w13 >> 3)) + w5 + ((z >> 17) ~ (z >> 19) ~ (w10 >> 10))) & M32
  t = e + ((b >> 6) ~ (b >> 11) ~ (b >> 25)) + (d ~ (b & (c ~ d))) + 0xc76c51a3 + w12
  a = ((a + t) & M32) * S
  v = f ~ g
  e = ((t + ((f >> 2) ~ (f >> 13) ~ (f >> 22)) + (g ~ (v & u))) & M32) * S
  y = w14 * S
  z = w11 * S
  w13 = (w13 + ((y >> 7) ~ (y >> 18) ~ (w14 >> 3)) + w6 + ((z >> 17) ~ (z >> 19) ~ (w11 >> 10))) & M32
  t = d + ((a >> 6) ~ (a >> 11) ~ (a >> 25)) + (c ~ (a & (b ~ c))) + 0xd192e819 + w13
  h = ((h + t) & M32) * S
  u = e ~ f
  d = ((t + ((e >> 2) ~ (e >> 13) ~ (e >> 22)) + (f ~ (u & v))) & M32) * S
  y = w15 * S
  z = w12 * S
  w14 = (w14 + ((y >> 7) ~ (y >> 18) ~ (w15 >> 3)) + w7 + ((z >> 17) ~ (z >> 19) ~ (w12 >> 10))) & M32
  t = c + ((h >> 6) ~ (h >> 11) ~ (h >> 25)) + (b ~ (h & (a ~ b))) + 0xd6990624 + w14
  g = ((g + t) & M32) * S
  v = d ~ e
  c = ((t + ((d >> 2) ~ (d >> 13) ~ (d >> 22)) + (e ~ (v & u))) & M32) * S
  y = w16 * S
  z = w13 * S
  w15 = (w15 + ((y >> 7) ~ (y >> 18) ~ (w16 >> 3)) + w8 + ((z >> 17) ~ (z >> 19) ~ (w13 >> 10))) & M32
  t = b + ((g >> 6) ~ (g >> 11) ~ (g >> 25)) + (a ~ (g & (h ~ a))) + 0xf40e3585 + w15
  f = ((f + t) & M32) * S
  u = c ~ d
  b = ((t + ((c >> 2) ~ (c >> 13) ~ (c >> 22)) + (d ~ (u & v))) & M32) * S
  y = w1 * S
  z = w14 * S
  w16 = (w16 + ((y >> 7) ~ (y >> 18) ~ (w1 >> 3)) + w9 + ((z >> 17) ~ (z >> 19) ~ (w14 >> 10))) & M32
  t = a + ((f >> 6) ~ (f >> 11) ~ (f >> 25)) + (h ~ (f & (g ~ h))) + 0x106aa070 + w16
  e = ((e + t) & M32) * S
  v = b ~ c
  a = ((t + ((b >> 2) ~ (b >> 13) ~ (b >> 22)) + (c ~ (v & u))) & M32) * S
  -- Rounds 49 … 64: each first advances its schedule word in place (w_i becomes W[48 + i]).
  y = w2 * S
  z = w15 * S
  w1 = (w1 + ((y >> 7) ~ (y >> 18) ~ (w2 >> 3)) + w10 + ((z >> 17) ~ (z >> 19) ~ (w15 >> 10))) & M32
  t = h + ((e >> 6) ~ (e >> 11) ~ (e >> 25)) + (g ~ (e & (f ~ g))) + 0x19a4c116 + w1
  d = ((d + t) & M32) * S
  u = a ~ b
  h = ((t + ((a >> 2) ~ (a >> 13) ~ (a >> 22)) + (b ~ (u & v))) & M32) * S
  y = w3 * S
  z = w16 * S
  w2 = (w2 + ((y >> 7) ~ (y >> 18) ~ (w3 >> 3)) + w11 + ((z >> 17) ~ (z >> 19) ~ (w16 >> 10))) & M32
  t = g + ((d >> 6) ~ (d >> 11) ~ (d >> 25)) + (f ~ (d & (e ~ f))) + 0x1e376c08 + w2
  c = ((c + t) & M32) * S
  v = h ~ a
  g = ((t + ((h >> 2) ~ (h >> 13) ~ (h >> 22)) + (a ~ (v & u))) & M32) * S
  y = w4 * S
  z = w1 * S
  w3 = (w3 + ((y >> 7) ~ (y >> 18) ~ (w4 >> 3)) + w12 + ((z >> 17) ~ (z >> 19) ~ (w1 >> 10))) & M32
  t = f + ((c >> 6) ~ (c >> 11) ~ (c >> 25)) + (e ~ (c & (d ~ e))) + 0x2748774c + w3
  b = ((b + t) & M32) * S
  u = g ~ h
  f = ((t + ((g >> 2) ~ (g >> 13) ~ (g >> 22)) + (h ~ (u & v))) & M32) * S
  y = w5 * S
  z = w2 * S
  w4 = (w4 + ((y >> 7) ~ (y >> 18) ~ (w5 >> 3)) + w13 + ((z >> 17) ~ (z >> 19) ~ (w2 >> 10))) & M32
  t = e + ((b >> 6) ~ (b >> 11) ~ (b >> 25)) + (d ~ (b & (c ~ d))) + 0x34b0bcb5 + w4
  a = ((a + t) & M32) * S
  v = f ~ g
  e = ((t + ((f >> 2) ~ (f >> 13) ~ (f >> 22)) + (g ~ (v & u))) & M32) * S
  y = w6 * S
  z = w3 * S
  w5 = (w5 + ((y >> 7) ~ (y >> 18) ~ (w6 >> 3)) + w14 + ((z >> 17) ~ (z >> 19) ~ (w3 >> 10))) & M32
  t = d + ((a >> 6) ~ (a >> 11) ~ (a >> 25)) + (c ~ (a & (b ~ c))) + 0x391c0cb3 + w5
  h = ((h + t) & M32) * S
  u = e ~ f
  d = ((t + ((e >> 2) ~ (e >> 13) ~ (e >> 22)) + (f ~ (u & v))) & M32) * S
  y = w7 * S
  z = w4 * S
  w6 = (w6 + ((y >> 7) ~ (y >> 18) ~ (w7 >> 3)) + w15 + ((z >> 17) ~ (z >> 19) ~ (w4 >> 10))) & M32
  t = c + ((h >> 6) ~ (h >> 11) ~ (h >> 25)) + (b ~ (h & (a ~ b))) + 0x4ed8aa4a + w6
  g = ((g + t) & M32) * S
  v = d ~ e
  c = ((t + ((d >> 2) ~ (d >> 13) ~ (d >> 22)) + (e ~ (v & u))) & M32) * S
  y = w8 * S
  z = w5 * S
  w7 = (w7 + ((y >> 7) ~ (y >> 18) ~ (w8 >> 3)) + w16 + ((z >> 17) ~ (z >> 19) ~ (w5 >> 10))) & M32
  t = b + ((g >> 6) ~ (g >> 11) ~ (g >> 25)) + (a ~ (g & (h ~ a))) + 0x5b9cca4f + w7
  f = ((f + t) & M32) * S
  u = c ~ d
  b = ((t + ((c >> 2) ~ (c >> 13) ~ (c >> 22)) + (d ~ (u & v))) & M32) * S
  y = w9 * S
  z = w6 * S
  w8 = (w8 + ((y >> 7) ~ (y >> 18) ~ (w9 >> 3)) + w1 + ((z >> 17) ~ (z >> 19) ~ (w6 >> 10))) & M32
  t = a + ((f >> 6) ~ (f >> 11) ~ (f >> 25)) + (h ~ (f & (g ~ h))) + 0x682e6ff3 + w8
  e = ((e + t) & M32) * S
  v = b ~ c
  a = ((t + ((b >> 2) ~ (b >> 13) ~ (b >> 22)) + (c ~ (v & u))) & M32) * S
  y = w10 * S
  z = w7 * S
  w9 = (w9 + ((y >> 7) ~ (y >> 18) ~ (w10 >> 3)) + w2 + ((z >> 17) ~ (z >> 19) ~ (w7 >> 10))) & M32
  t = h + ((e >> 6) ~ (e >> 11) ~ (e >> 25)) + (g ~ (e & (f ~ g))) + 0x748f82ee + w9
  d = ((d + t) & M32) * S
  u = a ~ b
  h = ((t + ((a >> 2) ~ (a >> 13) ~ (a >> 22)) + (b ~ (u & v))) & M32) * S
  y = w11 * S
  z = w8 * S
  w10 = (w10 + ((y >> 7) ~ (y >> 18) ~ (w11 >> 3)) + w3 + ((z >> 17) ~ (z >> 19) ~ (w8 >> 10))) & M32
  t = g + ((d >> 6) ~ (d >> 11) ~ (d >> 25)) + (f ~ (d & (e ~ f))) + 0x78a5636f + w10
  c = ((c + t) & M32) * S
  v = h ~ a
  g = ((t + ((h >> 2) ~ (h >> 13) ~ (h >> 22)) + (a ~ (v & u))) & M32) * S
  y = w12 * S
  z = w9 * S
  w11 = (w11 + ((y >> 7) ~ (y >> 18) ~ (w12 >> 3)) + w4 + ((z >> 17) ~ (z >> 19) ~ (w9 >> 10))) & M32
  t = f + ((c >> 6) ~ (c >> 11) ~ (c >> 25)) + (e ~ (c & (d ~ e))) + 0x84c87814 + w11
  b = ((b + t) & M32) * S
  u = g ~ h
  f = ((t + ((g >> 2) ~ (g >> 13) ~ (g >> 22)) + (h ~ (u & v))) & M32) * S
  y = w13 * S
  z = w10 * S
  w12 = (w12 + ((y >> 7) ~ (y >> 18) ~ (w13 >> 3)) + w5 + ((z >> 17) ~ (z >> 19) ~ (w10 >> 10))) & M32
  t = e + ((b >> 6) ~ (b >> 11) ~ (b >> 25)) + (d ~ (b & (c ~ d))) + 0x8cc70208 + w12
  a = ((a + t) & M32) * S
  v = f ~ g
  e = ((t + ((f >> 2) ~ (f >> 13) ~ (f >> 22)) + (g ~ (v & u))) & M32) * S
  y = w14 * S
  z = w11 * S
  w13 = (w13 + ((y >> 7) ~ (y >> 18) ~ (w14 >> 3)) + w6 + ((z >> 17) ~ (z >> 19) ~ (w11 >> 10))) & M32
  t = d + ((a >> 6) ~ (a >> 11) ~ (a >> 25)) + (c ~ (a & (b ~ c))) + 0x90befffa + w13
  h = ((h + t) & M32) * S
  u = e ~ f
  d = ((t + ((e >> 2) ~ (e >> 13) ~ (e >> 22)) + (f ~ (u & v))) & M32) * S
  y = w15 * S
  z = w12 * S
  w14 = (w14 + ((y >> 7) ~ (y >> 18) ~ (w15 >> 3)) + w7 + ((z >> 17) ~ (z >> 19) ~ (w12 >> 10))) & M32
  t = c + ((h >> 6) ~ (h >> 11) ~ (h >> 25)) + (b ~ (h & (a ~ b))) + 0xa4506ceb + w14
  g = ((g + t) & M32) * S
  v = d ~ e
  c = ((t + ((d >> 2) ~ (d >> 13) ~ (d >> 22)) + (e ~ (v & u))) & M32) * S
  y = w16 * S
  z = w13 * S
  w15 = (w15 + ((y >> 7) ~ (y >> 18) ~ (w16 >> 3)) + w8 + ((z >> 17) ~ (z >> 19) ~ (w13 >> 10))) & M32
  t = b + ((g >> 6) ~ (g >> 11) ~ (g >> 25)) + (a ~ (g & (h ~ a))) + 0xbef9a3f7 + w15
  f = ((f + t) & M32) * S
  u = c ~ d
  b = ((t + ((c >> 2) ~ (c >> 13) ~ (c >> 22)) + (d ~ (u & v))) & M32) * S
  y = w1 * S
  z = w14 * S
  w16 = (w16 + ((y >> 7) ~ (y >> 18) ~ (w1 >> 3)) + w9 + ((z >> 17) ~ (z >> 19) ~ (w14 >> 10))) & M32
  t = a + ((f >> 6) ~ (f >> 11) ~ (f >> 25)) + (h ~ (f & (g ~ h))) + 0xc67178f2 + w16
  e = ((e + t) & M32) * S
  v = b ~ c
  a = ((t + ((b >> 2) ~ (b >> 13) ~ (b >> 22)) + (c ~ (v & u))) & M32) * S
  return (h1 + a) & M32, (h2 + b) & M32, (h3 + c) & M32, (h4 + d) & M32,
    (h5 + e) & M32, (h6 + f) & M32, (h7 + g) & M32, (h8 + h) & M32
end

-- Absorb `data` into a state that has already taken `done` bytes (a whole
-- number of blocks), pad, and return the final state.
local function absorb(data, done, h1, h2, h3, h4, h5, h6, h7, h8)
  local n = #data
  local full = n - n % 64
  for pos = 1, full, 64 do
    h1, h2, h3, h4, h5, h6, h7, h8 =
      compress(h1, h2, h3, h4, h5, h6, h7, h8, unpack(BLOCK_WORDS, data, pos))
  end
  local rest = n - full
  -- 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit big-endian.
  local zeros = (55 - rest) % 64
  local tail = sub(data, full + 1) .. "\128" .. rep("\0", zeros) .. pack(">I8", (done + n) * 8)
  for pos = 1, #tail, 64 do
    h1, h2, h3, h4, h5, h6, h7, h8 =
      compress(h1, h2, h3, h4, h5, h6, h7, h8, unpack(BLOCK_WORDS, tail, pos))
  end
  return h1, h2, h3, h4, h5, h6, h7, h8
end

--- SHA-256 of the byte string `s`: 32 raw bytes.
function M.sha256(s)
  return pack(DIGEST_WORDS, absorb(s, 0, H1, H2, H3, H4, H5, H6, H7, H8))
end

-- The 16 words of the key block, each XORed with `p` (RFC 2104's pad byte
-- repeated four times).
local function padded(p, w1, w2, w3, w4, w5, w6, w7, w8,
    w9, w10, w11, w12, w13, w14, w15, w16)
  return w1 ~ p, w2 ~ p, w3 ~ p, w4 ~ p, w5 ~ p, w6 ~ p, w7 ~ p, w8 ~ p,
    w9 ~ p, w10 ~ p, w11 ~ p, w12 ~ p, w13 ~ p, w14 ~ p, w15 ~ p, w16 ~ p
end

local Keyed = {}
Keyed.__index = Keyed

--- Precompute HMAC-SHA256 state for `key` (any length; keys over 64 bytes
--- are hashed first, per RFC 2104). Returns an object with `mac(msg)`.
function M.keyed(key)
  if #key > 64 then
    key = M.sha256(key)
  end
  local block = key .. rep("\0", 64 - #key)
  local self = setmetatable({}, Keyed)
  self.inner = { compress(H1, H2, H3, H4, H5, H6, H7, H8,
    padded(0x36363636, unpack(BLOCK_WORDS, block))) }
  self.outer = { compress(H1, H2, H3, H4, H5, H6, H7, H8,
    padded(0x5c5c5c5c, unpack(BLOCK_WORDS, block))) }
  return self
end

-- The padding after an n-byte message (n ≤ 55) that follows the key block:
-- 0x80, zeros, the bit length (64 + n) · 8. Filled on first use of each n,
-- since a MAC would otherwise build the same string every time.
local INNER_TAILS = {}

--- HMAC-SHA256 of `msg` under the precomputed key: 32 raw bytes.
function Keyed:mac(msg)
  local i, o = self.inner, self.outer
  local n = #msg
  local d1, d2, d3, d4, d5, d6, d7, d8
  if n <= 55 then
    local tail = INNER_TAILS[n]
    if not tail then
      tail = "\128" .. rep("\0", 55 - n) .. pack(">I8", (64 + n) * 8)
      INNER_TAILS[n] = tail
    end
    d1, d2, d3, d4, d5, d6, d7, d8 = compress(i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8],
      unpack(BLOCK_WORDS, msg .. tail))
  else
    d1, d2, d3, d4, d5, d6, d7, d8 = absorb(msg, 64, i[1], i[2], i[3], i[4], i[5], i[6], i[7], i[8])
  end
  -- The outer message after the key block is the 32-byte inner digest padded
  -- as a 96-byte message: 0x80000000, six zero words, the bit length 768.
  return pack(DIGEST_WORDS, compress(o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8],
    d1, d2, d3, d4, d5, d6, d7, d8, 0x80000000, 0, 0, 0, 0, 0, 0, 768))
end

--- HMAC-SHA256 (RFC 2104) of `msg` under `key`: 32 raw bytes.
function M.hmac_sha256(key, msg)
  return M.keyed(key):mac(msg)
end

return M
