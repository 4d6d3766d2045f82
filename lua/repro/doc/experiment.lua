-- Docstrings of repro.experiment, repro.train and its parts (train.loop,
-- train.logger, train.checkpointer, train.progress, train.interrupt), and
-- util.shortest: dotted name as reached from require "repro" -> text (first
-- line the signature, then one paragraph).
return {
  ["experiment.new"] = [[experiment.new{name=, presets=, options=, default=, script=, about=, times=, cosmetic=, check=, args=, exit=} -> exp
Creates an experiment from the script's arguments (args, default the global arg): picks the preset (--preset, default `default`), applies --KEY VALUE overrides of its fields (dotted names for nested fields), and checks every value against `options` (key -> {help=, min=, max=, gt=, lt=, choices=, list=}; the type comes from the presets, lists are checked element by element). A bad flag or value prints one line naming the option, the value and what is valid and exits with status 2 before anything is written (raises when exit = false); --help prints what it reproduces (`about`), each preset's time on 2 cores (`times`) and one line per option. Then it writes config.txt and run.txt into the output folder (--out, default out/NAME/PRESET), refusing a folder of another configuration unless --force; without --resume the checkpoints of an earlier run there are removed.]],
  ["experiment.parse"] = [[experiment.parse(spec, args) -> {preset=, config=, seed=, steps=, pristine=, changed=, out=, resume=, force=, help=}
Parses and checks a list of argument strings against an experiment spec without touching the disk; raises a one-line error on a bad flag or value. pristine is true when the configuration equals the preset's (apart from spec.cosmetic fields); changed lists the fields that differ.]],
  ["experiment.usage"] = [[experiment.usage(spec) -> string
The --help text of an experiment spec: usage line, what it reproduces, the presets with their time on 2 cores, one line per option (help, valid range, value in the default preset and where other presets differ) and the common flags.]],
  ["experiment.machine_info"] = [[experiment.machine_info() -> table
Facts about the machine and build recorded in run.txt: nproc, uname, Lua version, git revision, date, repro version, thread count and BLAS.]],
  ["Experiment:run"] = [[exp:run(body) -> body's results
Runs body(exp) with SIGINT and SIGTERM caught for the whole experiment. A training loop inside finishes its step, writes its checkpoint and unwinds; the script then prints where it stopped and the exact command that resumes it (--resume) and exits with status 130, recording nothing for the stopped run. Another error prints one line (a traceback only with REPRO_DEBUG=1) and exits 1; with spec.exit = false both are raised instead.]],
  ["Experiment:plan"] = [[exp:plan(n_runs, total_steps)
Declares the work of the experiment (an estimate is fine) so that progress lines read "run i/N" and show the ETA of the whole experiment.]],
  ["Experiment:begin_run"] = [[exp:begin_run(name, steps) -> context
Starts the next run of the plan (stopping first if a signal came between runs) and returns its progress context {label = "run i/N name", eta =, on_step =}, to pass as repro.train{progress = context} or repro.train.progress.new{context = context}.]],
  ["Experiment:skip_run"] = [[exp:skip_run(name, steps)
Counts a run found finished under --resume (it is reported as reused and not timed).]],
  ["Experiment:check_interrupt"] = [[exp:check_interrupt(where)
Between phases that are not training loops (figures, timing): if SIGINT or SIGTERM came, stop the experiment here (exit 130 with the resume command).]],
  ["Experiment:settings"] = [[exp:settings() -> string
"preset fast" when the configuration is the preset's, else "preset fast, changed: steps=50, lr=0.02": for figure titles and summaries.]],
  ["Experiment:checkpoint_dir"] = [[exp:checkpoint_dir([run]) -> path
The checkpoint folder of a run (OUT/checkpoint/RUN), or of the whole experiment without a name.]],
  ["Experiment:path"] = [[exp:path(...) -> path
A path inside the experiment's output folder.]],
  ["Experiment:publish"] = [[exp:publish(dest, names [, {existing = false}]) -> folder | false | nil
Copies outputs (paths inside the output folder; a last component may be a shell glob such as "figures/csp_*") into the source tree's folder dest, only when the configuration is the preset's: returns that folder, false when settings differ, nil when dest is "". existing = true skips names that do not exist.]],
  ["Experiment:runs"] = [[exp:runs(list, train)
Calls train(item) for every item (independent runs; under exp.resume train must skip a run whose result exists). For experiments with parts = true: --workers N (default one per thread) starts N copies of the script with --part 1/N ... N/N and REPRO_THREADS=1, waits, then calls train once more per item under resume so every result is reused; --part I/N trains items I, I+N, ... and ends the process before the report. Same numbers as one process.]],
  ["Experiment:write_results"] = [[exp:write_results(tbl)
Writes results.txt (key=value, numbers at their shortest round-trip form) into the output folder.]],
  ["Experiment:write_tsv"] = [[exp:write_tsv(name, columns, rows) -> path
Writes a TSV into the output folder atomically: a header of column names, then one line per row.]],
  ["train"] = [[repro.train{model=, optimizer=, data=, steps=, ...} -> result
Trains a language model: see train.run.]],
  ["train.run"] = [[train.run{model=, optimizer=, data=, steps=, batch=, schedule=, eval_every=, eval_batches=, grad_clip=, log=, checkpoint=, checkpoint_every=, checkpoint_keep=, resume=, stats_every=, stats=, on_step=, on_resume=, progress=, progress_every=, quiet=, micro_batches=, bucket=} -> result
The language-model training loop, built from train.loop, train.logger, train.checkpointer, train.progress and train.interrupt. Logs one TSV row per step, ends a run cleanly on a non-finite loss or gradient (result.diverged, result.diverged_in), checkpoints every checkpoint_every steps, at the end and on SIGINT/SIGTERM, and with resume = true continues bit-identically from the newest intact checkpoint. Inside an experiment an interruption unwinds to exp:run; alone it prints the resume command and exits 130. micro_batches = M cuts each batch into M micro-batches whose gradients are folded in order; under mpirun with N processes (N dividing M) each rank computes M/N of them and the result is bit-identical to one process with the same M (docs/dist.md).]],
  ["train.collect_state"] = [[train.collect_state(o, step) -> state
Everything a language-model step depends on, for a checkpoint: model and optimizer state dicts, FP8 recipe states, the RNG state and the data loader's state.]],
  ["train.restore_state"] = [[train.restore_state(o, state) -> step
Loads a state made by train.collect_state back into o.model, o.optimizer, the FP8 recipes, the RNG and o.data.]],
  ["train.save_checkpoint"] = [[train.save_checkpoint(dir, state [, keep])
Writes a nested state table as one checkpoint file in dir (repro.checkpoint.save_state), keeping the newest `keep` (3).]],
  ["train.load_checkpoint"] = [[train.load_checkpoint(dir) -> state | nil
The newest intact checkpoint in dir as a nested table (nil when there is none).]],
  ["train.loop.run"] = [[train.loop.run{steps=, step=fn(step) -> row, status, start=, checkpoint=, log=, progress=, describe=, on_step=} -> {start=, step=, diverged=}
The step loop any trainer shares: calls step(step) for start+1..steps, writes its row to the logger, updates the progress line, ends after a step whose status is "diverged", checkpoints through the checkpointer, and on SIGINT/SIGTERM finishes the step, writes a checkpoint and raises an Interrupted error (train.interrupt).]],
  ["train.logger.open"] = [[train.logger.open(path, {columns=, first=, extra=, resume_step=}) -> logger
A TSV log, one row per logger:write(row) (missing cells NaN, flushed each row); columns given or fixed by the first row (`first` columns first, then the others sorted). resume_step = n keeps an existing file's rows up to step n and appends after them.]],
  ["train.logger.truncate"] = [[train.logger.truncate(path, step) -> columns | nil
Keeps the rows of a TSV whose first column is <= step; returns its header's columns.]],
  ["train.checkpointer.new"] = [[train.checkpointer.new{dir=, every=, keep=, collect=fn(step) -> state, restore=fn(state) -> step} -> ck
When and what a loop checkpoints: ck:resume() restores the newest intact checkpoint and returns its step (0 if none); ck:after_step(step, last, stop) saves every `every` steps, at the last step or when stopping; ck:save(step) saves now, inside a critical section so that a second Ctrl-C waits for the write.]],
  ["train.progress.new"] = [[train.progress.new{steps=, start=, every=, quiet=, context=} -> p
The progress line of a loop: p:update(step, text, done) prints "run i/N name  step s/S  text  eta 1m05s (experiment 7m30s)", redrawn in place on a terminal, else every `every` steps; context comes from exp:begin_run.]],
  ["train.checkpointer.resume"] = [[ck:resume() -> step
Restores the newest intact checkpoint in the checkpointer's folder through its restore function and returns its step (0 when there is none).]],
  ["train.checkpointer.save"] = [[ck:save(step)
Writes one checkpoint of the state that collect(step) returns, now, inside a critical section (a second Ctrl-C waits for the write), keeping the newest `keep` files.]],
  ["train.checkpointer.after_step"] = [[ck:after_step(step, last, stop) -> saved
Saves when step is a multiple of `every`, at the last step, or when the loop is stopping; returns true when it saved.]],
  ["train.logger.write"] = [[log:write(row)
Appends one TSV row; row maps column names to numbers or strings, missing cells are written as NaN, and the file is flushed after every row.]],
  ["train.logger.close"] = [[log:close()
Closes the log's file (further writes are an error); calling it twice is harmless.]],
  ["train.progress.update"] = [[p:update(step, text [, done])
Prints the progress line for step with text after the step counter: redrawn in place on a terminal, else every `every` steps and at the first and last step; done ends the line.]],
  ["train.progress.line"] = [[p:line(step, text) -> string
The progress line update would print: run label, "step s/S", text, the loop's ETA and the whole experiment's ETA when a context gives one.]],
  ["train.progress.eta"] = [[p:eta(step) -> seconds | nil
Seconds left in this loop from the pace of the steps run in this process (nil before the first step).]],
  ["train.progress.break_line"] = [[p:break_line()
Ends a line being redrawn in place on a terminal, so that other output starts on a fresh line.]],
  ["train.interrupt.begin"] = [[train.interrupt.begin()
Catch SIGINT and SIGTERM from now on (nested calls count; train.interrupt.finish() undoes one). The first signal only sets a flag that train.interrupt.pending() returns; a second one ends the process at once, unless a critical section is open.]],
  ["train.interrupt.finish"] = [[train.interrupt.finish()
Matches train.interrupt.begin(); the last one restores the signal actions found before.]],
  ["train.interrupt.pending"] = [[train.interrupt.pending() -> "SIGINT" | "SIGTERM" | nil
The first signal caught since train.interrupt.begin(), polled by loops between steps.]],
  ["train.interrupt.critical"] = [[train.interrupt.critical(fn, ...) -> fn's results
Runs fn so that a second signal waits for it to return (a checkpoint write).]],
  ["train.interrupt.enter_exit"] = [[train.interrupt.enter_exit()
Opens a critical section that is never closed: the process is on its way out after a signal.]],
  ["train.interrupt.stop"] = [[train.interrupt.stop{step=, steps=, checkpoint=, where=}
Raises an Interrupted error carrying where the loop stopped and its checkpoint folder; train.interrupt.is(err) recognises it.]],
  ["train.interrupt.is"] = [[train.interrupt.is(err) -> boolean
Is err an Interrupted error (a loop stopped by SIGINT/SIGTERM), as opposed to a failure?]],
  ["train.interrupt.active"] = [[train.interrupt.active() -> boolean
Are SIGINT and SIGTERM being caught (train.interrupt.begin() without its finish())?]],
  ["train.interrupt.set_owner"] = [[train.interrupt.set_owner(name | nil)
Declares that someone above the loops (an experiment) reports interruptions; without an owner repro.train reports them itself and exits 130.]],
  ["train.interrupt.owner"] = [[train.interrupt.owner() -> name | nil
Who reports interruptions (set by train.interrupt.set_owner).]],
  ["train.interrupt.resume_command"] = [[train.interrupt.resume_command([args]) -> string | nil
The command line that resumes this script: ./repro (from the source folder) or repro, the script and its arguments, plus --resume.]],
  ["train.interrupt.word"] = [[train.interrupt.word(s) -> string
s as one shell word: unchanged when it holds only safe characters, else single-quoted.]],
  ["util.shortest"] = [[util.shortest(x) -> string
x at its shortest round-trip form: integers as integers, floats as the first of %.15g, %.16g, %.17g that reads back as exactly x (0.9, not 0.90000000000000002); nan, inf, -inf.]],
  ["core.signal.install"] = [[core.signal.install()
Installs handlers for SIGINT and SIGTERM (idempotent): the first signal sets a flag, a second ends the process at once unless a critical section is open. Prefer train.interrupt.]],
  ["core.signal.pending"] = [[core.signal.pending() -> "SIGINT" | "SIGTERM" | nil
The first signal caught since install().]],
  ["core.signal.critical"] = [[core.signal.critical(on) -> [boolean]
Enters (true) or leaves (false) a section that a second signal must not cut short; a second signal inside it waits, and leaving returns whether one came.]],
  ["core.signal.clear"] = [[core.signal.clear()
Forgets the signal caught and re-arms the handlers.]],
  ["core.signal.uninstall"] = [[core.signal.uninstall()
Restores the signal actions found at install().]],
  ["core.signal.raise"] = [[core.signal.raise("SIGINT" | "SIGTERM")
Sends the signal to this process (used by tests and REPRO_SELF_SIGNAL).]],
}
