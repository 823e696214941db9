# The task of ansible/rollout.yml (docs/src/fleet-rollout.md): one device's
# `cargo xtask upgrade --json`, run on the control node, its result kept.
#
# An action plugin runs inside Ansible's own worker on the control node: nothing is shipped
# and no Python is started for a device. The `command` module it replaces started one per
# device: about 0.3 s of the control node's CPU each, and a task boundary per wave to write
# the wave's results after it (measured with scripts/bench-rollout.sh).
#
# It runs the argument vector it is given as it is (never through a shell), writes the
# host's result document beside the others (written whole, then renamed into place: the
# tool's live line reads each one once), and fails the host when upgrade did not end with 0,
# with the reason of that exit code: Ansible counts the failure for max_fail_percentage.
# Check mode (--check) runs nothing.
#
# Arguments:
#   argv      the command, a list of strings (the tool's binary first)
#   results   the directory of the result documents; this host's is INVENTORY_HOSTNAME.json
#   reasons   the failure message of each exit code ({"4": "rolled back: ..."})
#
# The result document: {"batch": [HOST], "results": {HOST: {"rc", "start", "end", "delta",
# "stdout", "stderr" (its last 40 lines), "msg"}}}.

from __future__ import annotations

import datetime
import json
import os
import subprocess
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("argv", "results", "reasons"))
    # a preview (--check) moves no device
    _supports_check_mode = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        argv = args.get("argv")
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in argv)
        ):
            raise AnsibleActionFail("argv: give the command as a list of strings")
        argv = [str(a) for a in argv]
        results = args.get("results")
        if not isinstance(results, str) or not os.path.isdir(results):
            raise AnsibleActionFail("results: give the directory the result documents go to")
        reasons = args.get("reasons") or {}
        host = str((task_vars or {}).get("inventory_hostname", ""))
        # the file's name: the host's own, in that directory
        if not host or "/" in host or host.startswith("."):
            raise AnsibleActionFail("inventory host %r cannot name a result file" % host)

        start = datetime.datetime.now()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as e:
            # kept as the device's result too: upgrade did not run (-1)
            rc, out, err = -1, "", []
            reason = "cannot run %s: %s" % (argv[0], e)
        else:
            try:
                stdout, stderr = proc.communicate()
            except KeyboardInterrupt:
                # the rollout was stopped: the signal reached upgrade too (the same process
                # group); it stops what it runs and ends: wait for that, a while
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                raise
            rc = proc.returncode
            # as the command module kept it: without its last line break
            out = stdout.decode("utf-8", errors="replace").rstrip("\r\n")
            err = stderr.decode("utf-8", errors="replace").splitlines()
            reason = ""
            if rc != 0:
                reason = reasons.get(str(rc)) or "cargo xtask upgrade exited with %d" % rc
        end = datetime.datetime.now()
        doc = {
            "batch": [host],
            "results": {
                host: {
                    "rc": rc,
                    "start": str(start),
                    "end": str(end),
                    "delta": str(end - start),
                    "stdout": out,
                    "stderr": err[-40:],
                    "msg": reason,
                }
            },
        }
        fd, path = tempfile.mkstemp(dir=results, prefix=".%s." % host, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f)
            os.chmod(path, 0o644)
            os.rename(path, os.path.join(results, host + ".json"))
        except BaseException:
            try:
                os.unlink(path)
            except OSError:
                pass
            raise

        result["rc"] = rc
        result["start"] = str(start)
        result["end"] = str(end)
        result["delta"] = str(end - start)
        result["changed"] = rc == 0 and "already_current" not in out
        if rc != 0:
            result["failed"] = True
            result["msg"] = reason
        return result
