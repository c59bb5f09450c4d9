-- Test module for the GenVM fake: its body makes an async host call, which GenVM cannot
-- serve while `require` runs (a C function).
__dflt.sleep_seconds(1)
return {}
