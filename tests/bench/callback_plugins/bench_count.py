# Aggregate callback for tests/bench/run.py: counts, per host, the task
# executions that reached the host (not skipped; loop items counted one by
# one; tasks that only run on the controller left out) and writes them as
# JSON to $BENCH_COUNT_FILE when the run ends.
import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_count
type: aggregate
short_description: per-host count of task executions that reached the host
description: For the benchmark only; writes JSON to $BENCH_COUNT_FILE.
"""

# Actions that never send a module to the host.
LOCAL = {"set_fact", "assert", "debug", "fail", "meta", "include_tasks", "import_tasks", "include_role",
         "import_role", "include_vars", "add_host", "group_by", "set_stats", "pause", "validate_argument_spec",
         "end_play", "end_host"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.counts = {}

    def _count(self, result, item=False):
        task = result._task
        action = task.action.rsplit(".", 1)[-1]
        if action in LOCAL or task.delegate_to in ("localhost", "127.0.0.1"):
            return
        if task.loop is not None and not item:
            return  # counted per item
        name = result._host.get_name()
        self.counts[name] = self.counts.get(name, 0) + 1

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_runner_item_on_ok(self, result):
        self._count(result, item=True)

    def v2_runner_item_on_failed(self, result):
        self._count(result, item=True)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_COUNT_FILE")
        if path:
            with open(path, "w") as f:
                json.dump(self.counts, f)
