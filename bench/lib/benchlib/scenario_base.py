"""What every scenario shares: the samples and notes of a run, raw.jsonl, the backends, and the
loadgen's command line. A scenario adds its measurements and its report."""

import json
import os
import time


class ScenarioBase:
    def __init__(self, o, registry, out_dir, tools):
        self.o = o
        self.registry = registry
        self.out_dir = out_dir
        self.tools = tools
        self.samples = {}
        self.unavailable = {}
        self.notes = []
        self.backends = {}
        self.instances = 0
        self.raw = open(os.path.join(out_dir, "raw.jsonl"), "a", encoding="utf-8")
        self.config_dir = os.path.join(out_dir, "configs")
        os.makedirs(self.config_dir, exist_ok=True)

    # -- bookkeeping ------------------------------------------------------------------------

    def say(self, text):
        print(text, flush=True)

    def add(self, column, key, value):
        if value is not None:
            self.samples.setdefault(column, {}).setdefault(key, []).append(value)

    def record(self, **entry):
        self.raw.write(json.dumps(entry, sort_keys=True) + "\n")
        self.raw.flush()

    def note(self, text):
        self.notes.append(text)
        self.say("  note: " + text)

    # -- processes --------------------------------------------------------------------------

    def start_backends(self, modes=("echo", "source", "sink")):
        for mode in modes:
            proc = self.registry.start(
                f"backend-{mode}", [self.tools["backend"], "--mode", mode, "--port", "0"],
                capture_stdout=True, patterns={"port": r"^listening on 127\.0\.0\.1:(\d+)$"})
            if not proc.stdout.wait(lambda t: t.found["port"], time.monotonic() + 10):
                raise RuntimeError(f"bench_backend --mode {mode} did not start: "
                                   f"{' | '.join(proc.stdout.lines())}")
            self.backends[mode] = (proc, int(proc.stdout.found["port"][0][0]))

    def check_backends(self):
        for mode, (proc, _) in self.backends.items():
            if not proc.alive():
                raise RuntimeError(f"backend {mode} died (see logs/backend-{mode}.log)")

    def loadgen_argv(self, port, mode_args):
        o = self.o
        return [self.tools["loadgen"], "--connect", f"127.0.0.1:{port}", "--threads",
                o.loadgen_threads, "--warmup", o.warmup] + mode_args


def parse_result(lines):
    for line in reversed(lines):
        if line.startswith("RESULT "):
            try:
                return json.loads(line[len("RESULT "):])
            except json.JSONDecodeError:
                return None
    return None
