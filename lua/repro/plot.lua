-- repro.plot (placeholder until its module lands)
return {}
