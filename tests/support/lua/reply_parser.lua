-- A stand-in for the hook's JSON body decoder: finds `code` and `type` of an error reply
-- with patterns, and raises as a failed decode does when the body holds no `error`.
return function(s)
  local code = s:match('"code"%s*:%s*"([^"]*)"')
  local kind = s:match('"type"%s*:%s*"([^"]*)"')
  if not s:find('"error"', 1, true) then error({ causes = { "DESERIALIZING" } }) end
  return { error = { code = code, type = kind } }
end
