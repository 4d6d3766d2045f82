-- Docstrings of repro.experiment (the runner of experiments/*.lua).
return {
  ["experiment.new"] = [=[repro.experiment.new{name =, default =, presets = {NAME = {...}}, description =, cosmetic =, args =, exit =} -> experiment
Parse the script's command line (--preset, --steps, --seed, --out, --resume, --force, --KEY VALUE for any preset field), prepare the output folder (default out/NAME/PRESET) and write config.txt and run.txt there. A bad flag prints the error and the usage and exits with status 2.]=],
  ["experiment.parse"] = [=[repro.experiment.parse(spec, args) -> {preset =, config =, seed =, steps =, pristine =, out =, resume =, force =, help =}
Parse a list of command-line strings against an experiment spec; raises on unknown or malformed flags, listing the valid ones.]=],
  ["experiment.usage"] = [=[repro.experiment.usage(spec) -> string
The usage text of an experiment: its flags and every preset's settings.]=],
  ["experiment.machine_info"] = [=[repro.experiment.machine_info() -> table
Facts about the machine and build recorded in run.txt (cores, kernel, Lua, BLAS, repro version, git revision).]=],
}
