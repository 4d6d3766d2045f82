-- repro.data (placeholder until its module lands)
return {}
