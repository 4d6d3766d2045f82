-- repro.nn (placeholder until its module lands)
return {}
