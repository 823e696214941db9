#!/usr/bin/env python3
"""TEST FIXTURE, not a flightctl server: a stand-in for the few endpoints of flightctl's API
that `cargo xtask rollout --flightctl` and `doctor --for rollout --flightctl` call, playing
a scripted rollout (tests/flightctl/README says what a real server does differently).

Every request it gets and every response it sends is validated against flightctl's own
OpenAPI document (openapi.yaml beside this file, copied unchanged; README names its commit)
with openapi-core: a request or response the document does not allow is written to
STATE/violations.txt (the tests fail on any) and answered 500.

    standin.py SCENARIO.json STATE_DIR [--tls CERT KEY]

It listens on 127.0.0.1 (a free port, written to STATE_DIR/port once it listens), writes
every request to STATE_DIR/requests.jsonl, and stops by itself after --lifetime seconds
(300 by default) or when STATE_DIR/stop exists. Time runs fast: a device updates in
`update_seconds` (default 0.6 s), and a batch starts as soon as the one before it is done.
"""

import copy
import datetime
import http.server
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

HERE = os.path.dirname(os.path.abspath(__file__))
OWNER = "Fleet/"
SELECTED = "fleet-controller/selectedForRollout"
DEFAULT_THRESHOLD = 90  # flightctl's DefaultSuccessThreshold


def now_text(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_doc(code, reason, message):
    return {"apiVersion": "v1beta1", "kind": "Status", "status": "Failure", "code": code,
            "reason": reason, "message": message}


def percent(text, what):
    """flightctl's PercentageAsInt: "N%" with 0 <= N <= 100."""
    if not isinstance(text, str) or not text.endswith("%") or not text[:-1].isdigit():
        raise ValueError(f"{what}: {text!r} is not in percentage format")
    n = int(text[:-1])
    if n > 100:
        raise ValueError(f"{what}: percentage must be between 0 and 100, got {n}")
    return n


def pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"bad JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_patch(doc, ops):
    """RFC 6902 add, replace, remove and test (the ops flightctl's PatchRequest allows)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = pointer(op["path"])
        if not parts:
            raise ValueError("a patch of the whole document")
        parent = doc
        for p in parts[:-1]:
            if isinstance(parent, list):
                parent = parent[int(p)]
            elif isinstance(parent, dict) and p in parent:
                parent = parent[p]
            else:
                raise ValueError(f"{op['op']} {op['path']}: no such path")
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, dict):
            if kind == "add":
                parent[last] = op["value"]
            elif kind == "replace":
                if last not in parent:
                    raise ValueError(f"replace {op['path']}: no such path")
                parent[last] = op["value"]
            elif kind == "remove":
                if last not in parent:
                    raise ValueError(f"remove {op['path']}: no such path")
                del parent[last]
            elif kind == "test":
                if parent.get(last, object()) != op.get("value"):
                    raise ValueError(f"test {op['path']}: the value differs")
        elif isinstance(parent, list):
            i = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(i, op["value"])
            elif kind == "replace":
                parent[i] = op["value"]
            elif kind == "remove":
                del parent[i]
            elif kind == "test" and parent[i] != op.get("value"):
                raise ValueError(f"test {op['path']}: the value differs")
        else:
            raise ValueError(f"{kind} {op['path']}: no such path")
    return doc


class Rollout:
    """The scripted fleet, its devices and the rollout, advanced lazily on each request."""

    def __init__(self, scenario):
        self.s = scenario
        self.lock = threading.Lock()
        f = scenario["fleet"]
        self.name = f["name"]
        self.spec = {
            "selector": {"matchLabels": {"fleet": self.name}},
            "template": {"spec": {"os": {"image": f["image"]}}},
        }
        if f.get("rolloutPolicy"):
            self.spec["rolloutPolicy"] = f["rolloutPolicy"]
        self.generation = 1
        self.version = 1
        self.template_version = 1
        self.annotations = {"fleet-controller/templateVersion": f"{self.name}-1"}
        self.conditions = [self.condition("Valid", "True", "Valid", "")]
        self.update_s = float(scenario.get("update_seconds", 0.6))
        self.devices = {}
        for d in scenario["devices"]:
            self.devices[d["name"]] = {
                "arch": d["arch"], "image": d.get("image", f["image"]), "digest": d["digest"],
                "behaviour": d.get("behaviour", "ok"), "os_mode": d.get("osMode", "image"),
                "spec_image": f["image"], "rendered": 1, "running": 1, "given_at": None,
                "template_version": f"{self.name}-1", "gone": False,
                "updating": None, "selected": False, "boot": 1,
            }
        # the rollout: its batches (device names) and where it is
        self.batches = None
        self.batch = None
        self.state = "idle"  # idle, active, suspended, done
        self.report = None

    def condition(self, kind, status, reason, message):
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": now_text()}

    def set_rollout_condition(self, status, reason, message):
        self.conditions = [c for c in self.conditions if c["type"] != "RolloutInProgress"]
        self.conditions.append(self.condition("RolloutInProgress", status, reason, message))

    # --- the rollout --------------------------------------------------------------------

    def sequence(self):
        policy = self.spec.get("rolloutPolicy") or {}
        selection = policy.get("deviceSelection")
        return None if selection is None else selection.get("sequence", [])

    def threshold(self, batch_index):
        policy = self.spec.get("rolloutPolicy") or {}
        seq = self.sequence() or []
        if 0 <= batch_index < len(seq) and seq[batch_index].get("successThreshold"):
            return percent(seq[batch_index]["successThreshold"], "successThreshold")
        if policy.get("successThreshold"):
            return percent(policy["successThreshold"], "successThreshold")
        return DEFAULT_THRESHOLD

    def start(self, image):
        """A new template version: the devices are given the new image batch by batch."""
        self.template_version += 1
        tv = f"{self.name}-{self.template_version}"
        self.annotations["fleet-controller/templateVersion"] = tv
        self.annotations["fleet-controller/deployingTemplateVersion"] = tv
        self.annotations.pop("fleet-controller/lastBatchCompletionReport", None)
        self.image = image
        self.report = None
        seq = self.sequence()
        if seq is None:
            # no device selection: every device at once, no batches
            self.batches = None
            self.batch = None
            for n in sorted(self.devices):
                self.give(n)
            self.state = "active"
            return
        self.annotations["fleet-controller/rolloutApprovalMethod"] = "automatic"
        self.batches = []
        self.batch = -1
        self.state = "active"
        self.next_batch()

    def rolled_out(self, n):
        return self.devices[n]["template_version"] == self.annotations["fleet-controller/templateVersion"]

    def next_batch(self):
        seq = self.sequence()
        self.batch += 1
        for d in self.devices.values():
            d["selected"] = False
        self.annotations["fleet-controller/batchNumber"] = str(self.batch)
        self.annotations.pop("fleet-controller/rolloutApproved", None)
        pending = [n for n in sorted(self.devices) if not self.rolled_out(n)]
        if self.batch < len(seq):
            b = seq[self.batch]
            labels = (b.get("selector") or {}).get("matchLabels") or {}
            pool = [n for n in sorted(self.devices) if all(
                self.s_labels(n).get(k) == v for k, v in labels.items())]
            limit = b.get("limit")
            if isinstance(limit, str):
                pct = percent(limit, "limit")
                done = len([n for n in pool if self.rolled_out(n)])
                limit = None if pct == 100 else round(len(pool) * pct / 100) - done
            chosen = [n for n in pool if n in pending and not self.devices[n]["gone"]]
            if limit is not None:
                chosen = chosen[:max(limit, 0)]
            name = f"batch {self.batch + 1}"
        else:
            chosen = pending
            name = "final implicit batch"
        self.batches.append(chosen)
        self.batch_name = name
        self.set_rollout_condition("True", "Active", f"Rolling out {name}")
        for n in chosen:
            self.devices[n]["selected"] = True
            self.give(n)
        self.annotations["fleet-controller/rolloutApproved"] = "true"

    def s_labels(self, n):
        return {"fleet": self.name, "name": n}

    def give(self, n):
        """The device is rendered the fleet's new spec; its agent starts the update."""
        d = self.devices[n]
        d["template_version"] = self.annotations["fleet-controller/templateVersion"]
        d["spec_image"] = self.image
        d["rendered"] += 1
        d["given_at"] = time.time()

    def settle(self, n, t):
        """What the device's agent has done by `t`."""
        d = self.devices[n]
        if d["given_at"] is None or d["running"] == d["rendered"] or d.get("failed") == d["rendered"]:
            return
        elapsed = t - d["given_at"]
        target = self.s["images"].get(d["spec_image"], {}).get(d["arch"])
        if d["behaviour"] == "unknown":
            if elapsed >= self.update_s / 2:
                d["gone"] = True
            return
        if target == d["digest"]:
            # already running that image: nothing to stage, nothing to reboot
            d["running"] = d["rendered"]
            d["image"] = d["spec_image"]
            d["updating"] = ("False", "Updated", f"Updated to desired renderedVersion: {d['rendered']}")
            return
        if elapsed < self.update_s:
            d["updating"] = ("True", "Rebooting", f"Device is rebooting into OS image: {d['spec_image']}")
            return
        if d["behaviour"] == "rollback":
            # greenboot failed the new image: the device booted its previous one again
            d["failed"] = d["rendered"]
            d["boot"] += 2
            d["updating"] = ("False", "Error",
                             f"Failed to update to renderedVersion: {d['rendered']}: booted image is not the desired one: greenboot rolled back to {d['image']}")
            return
        d["running"] = d["rendered"]
        d["image"] = d["spec_image"]
        d["digest"] = target
        d["boot"] += 1
        d["updating"] = ("False", "Updated", f"Updated to desired renderedVersion: {d['rendered']}")

    def complete(self, n):
        d = self.devices[n]
        return d["running"] == d["rendered"] or d.get("failed") == d["rendered"]

    def advance(self):
        t = time.time()
        for n in self.devices:
            self.settle(n, t)
        if self.state == "idle" or self.state == "done":
            return
        if self.batches is None:
            if all(self.complete(n) for n in self.devices):
                self.state = "done"
            return
        if self.state == "suspended":
            # the controller looks again: a batch may go on when the last one reached the
            # threshold (the fleet's, which a client may lower)
            if self.report["successPercentage"] >= self.threshold(self.batch + 1):
                self.state = "active"
                self.next_batch()
            return
        chosen = self.batches[self.batch]
        if not all(self.complete(n) for n in chosen):
            return
        ok = len([n for n in chosen if self.devices[n]["running"] == self.devices[n]["rendered"]])
        failed = len(chosen) - ok
        if chosen:
            self.report = {"batchName": self.batch_name, "successPercentage": ok * 100 // len(chosen),
                           "total": len(chosen), "successful": ok, "failed": failed, "timedOut": 0}
            self.annotations["fleet-controller/lastBatchCompletionReport"] = json.dumps(self.report)
        if self.batch >= len(self.sequence()):
            self.state = "done"
            self.set_rollout_condition("False", "Inactive", "Rollout is not in progress")
            return
        threshold = self.threshold(self.batch + 1)
        if self.report is None or self.report["successPercentage"] >= threshold:
            self.next_batch()
            return
        # the next batch is not approved: the rollout waits (flightctl has moved its batch
        # number on to it)
        self.annotations["fleet-controller/batchNumber"] = str(self.batch + 1)
        self.annotations.pop("fleet-controller/rolloutApproved", None)
        for d in self.devices.values():
            d["selected"] = False
        self.state = "suspended"
        r = self.report
        self.set_rollout_condition(
            "False", "Suspended",
            f"{r['batchName']} failed: {r['successPercentage']}% of batch devices were updated successfully, while success threshold was set to {threshold}%; Breakdown: total={r['total']} successful={r['successful']} failed={r['failed']} timed out={r['timedOut']}")

    # --- documents ------------------------------------------------------------------------

    def fleet_doc(self):
        return {
            "apiVersion": "v1beta1", "kind": "Fleet",
            "metadata": {"name": self.name, "generation": self.generation,
                         "resourceVersion": str(self.version), "annotations": dict(self.annotations),
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": copy.deepcopy(self.spec),
            "status": {"conditions": copy.deepcopy(self.conditions)},
        }

    def device_doc(self, n):
        d = self.devices[n]
        annotations = {
            "device-controller/renderedVersion": str(d["rendered"]),
            "fleet-controller/templateVersion": d["template_version"],
            "fleet-controller/renderedTemplateVersion": d["template_version"],
        }
        if d["selected"]:
            annotations[SELECTED] = ""
        conditions = []
        if d["updating"]:
            s, reason, message = d["updating"]
            conditions.append({"type": "Updating", "status": s, "reason": reason,
                               "message": message, "lastTransitionTime": now_text()})
        online = {"status": "Online", "info": "All system resources healthy."}
        tv = self.annotations["fleet-controller/templateVersion"]
        if d["gone"]:
            lost = "Device is disconnected (last seen more than 5 minutes ago)."
            summary, updated = {"status": "Unknown", "info": lost}, {"status": "Unknown", "info": lost}
        elif d["given_at"] is not None and not self.complete(n):
            summary = {"status": "Rebooting", "info": f"Device is rebooting into OS image: {d['spec_image']}"}
            updated = {"status": "Updating", "info": "Device is updating to the latest device spec."}
        elif d.get("failed") == d["rendered"]:
            summary = online
            updated = {"status": "OutOfDate",
                       "info": f"Device could not be updated to the fleet's latest device spec: {d['updating'][2]}"}
        elif d["template_version"] != tv:
            summary = online
            updated = {"status": "OutOfDate", "info": "Device is out of sync with the fleet's latest device spec."}
        else:
            summary = online
            updated = {"status": "UpToDate", "info": "Device was updated to the fleet's latest device spec."}
        return {
            "apiVersion": "v1beta1", "kind": "Device",
            "metadata": {"name": n, "labels": self.s_labels(n), "owner": OWNER + self.name,
                         "annotations": annotations, "resourceVersion": str(self.version)},
            "spec": {"os": {"image": d["spec_image"]}},
            "status": {
                "conditions": conditions,
                "systemInfo": {"architecture": d["arch"], "bootID": f"boot-{n}-{d['boot']}",
                               "operatingSystem": "linux", "agentVersion": "v1.0.0-standin"},
                "applications": [],
                "applicationsSummary": {"status": "NoApplications"},
                "resources": {"cpu": "Healthy", "memory": "Healthy", "disk": "Healthy"},
                "integrity": {"status": "Unsupported"},
                "config": {"renderedVersion": str(d["running"])},
                "os": {"image": d["image"], "imageDigest": d["digest"]},
                "updated": updated,
                "summary": summary,
                "lifecycle": {"status": "Enrolled"},
                "capabilities": {"osMode": d["os_mode"]},
            },
        }

    def patch(self, ops):
        """PATCH /fleets/NAME: spec and labels only (flightctl drops annotation changes)."""
        current = self.fleet_doc()
        patched = apply_patch(current, ops)
        policy = patched["spec"].get("rolloutPolicy")
        if policy is not None:
            if "deviceSelection" not in policy and "disruptionBudget" not in policy:
                raise ValueError("at least one of [DeviceSelection, DisruptionBudget] must be defined")
            if "successThreshold" in policy:
                percent(policy["successThreshold"], "rollout policy success threshold")
        template_changed = patched["spec"].get("template") != self.spec.get("template")
        self.spec = patched["spec"]
        self.version += 1
        self.generation += 1
        if template_changed:
            self.start(self.spec["template"]["spec"]["os"]["image"])


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "flightctl-standin/1"

    def log_message(self, *args):
        pass

    def send(self, code, doc, req=None):
        body = json.dumps(doc).encode()
        if req is not None:
            problems = self.server.check_response(req, code, body)
            if problems:
                body = json.dumps(status_doc(500, "InternalError",
                                             "stand-in: its own response broke the OpenAPI document")).encode()
                code = 500
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self, method):
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        srv.log_request(method, url.path, query, content_type, body, self.headers)
        if method == "get" and srv.spent("hang"):
            # a server that stopped answering: the request is held until the stand-in stops
            while not os.path.exists(os.path.join(srv.state, "stop")):
                time.sleep(0.1)
            return
        req = MockRequest(srv.host_url, method, url.path, args=query,
                          headers={k: v for k, v in self.headers.items()}, data=body,
                          content_type=content_type)
        problems = srv.check_request(req)
        if problems:
            return self.send(400, status_doc(400, "BadRequest", "stand-in: the request breaks the OpenAPI document: " + problems))
        if self.headers.get("Authorization") != f"Bearer {srv.scenario['token']}":
            return self.send(401, status_doc(401, "Unauthorized", "Authentication required"), req)
        if srv.spent("revoke"):
            # the token revoked, and quoted back as a careless proxy in front of the API does
            given = self.headers.get("Authorization", "")[len("Bearer "):]
            return self.send(401, status_doc(401, "Unauthorized", f"token {given} was revoked"), req)
        sim = srv.sim
        with sim.lock:
            sim.advance()
            if url.path == "/api/v1/version" and method == "get":
                return self.send(200, {"version": "v1.0.0-standin"}, req)
            prefix = "/api/v1/fleets/"
            if url.path.startswith(prefix):
                name = url.path[len(prefix):]
                if name != sim.name:
                    return self.send(404, status_doc(404, "NotFound", f'Fleet of name "{name}" not found'), req)
                if method == "get":
                    return self.send(200, sim.fleet_doc(), req)
                if method == "patch":
                    try:
                        sim.patch(json.loads(body))
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        return self.send(400, status_doc(400, "BadRequest", str(e)), req)
                    sim.advance()
                    return self.send(200, sim.fleet_doc(), req)
            if url.path == "/api/v1/devices" and method == "get":
                selector = query.get("fieldSelector", "")
                names = sorted(sim.devices)
                if selector:
                    key, _, value = selector.partition("=")
                    if key != "metadata.owner":
                        return self.send(400, status_doc(400, "BadRequest", f"stand-in: unsupported field selector {selector!r}"), req)
                    names = names if value == OWNER + sim.name else []
                limit = int(query.get("limit", "0") or 0)
                items = [sim.device_doc(n) for n in names]
                meta = {}
                if limit and len(items) > limit:
                    items = items[:limit]
                    meta["continue"] = "more"
                return self.send(200, {"apiVersion": "v1beta1", "kind": "DeviceList",
                                       "metadata": meta, "items": items}, req)
        self.send(404, status_doc(404, "NotFound", "stand-in: not one of the endpoints it plays"), req)

    def do_GET(self):
        self.handle_any("get")

    def do_PATCH(self):
        self.handle_any("patch")

    def do_PUT(self):
        self.handle_any("put")

    def do_POST(self):
        self.handle_any("post")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, scenario, state):
        super().__init__(("127.0.0.1", 0), Handler)
        self.scenario = scenario
        self.state = state
        self.sim = Rollout(scenario)
        self.api = OpenAPI.from_file_path(os.path.join(HERE, "openapi.yaml"),
                                          # the document as flightctl has it fails the
                                          # meta-schema (ConditionType lists "Approved" twice):
                                          # read it unchanged, without that check
                                          config=Config(spec_validator_cls=None,
                                                        # a JSON Patch is JSON
                                                        extra_media_type_deserializers={
                                                            "application/json-patch+json": json.loads}))
        self.io = threading.Lock()
        self.host_url = ""

    def spent(self, name):
        """STATE/NAME holds N: N more requests pass, then every one is spent: STATE/hang holds
        GETs unanswered (a server that stopped answering mid-rollout), STATE/revoke refuses
        the token, quoting it back (a proxy that says what it refused)."""
        path = os.path.join(self.state, name)
        with self.io:
            try:
                with open(path) as f:
                    left = int(f.read().strip() or "0")
            except FileNotFoundError:
                return False
            if left <= 0:
                return True
            with open(path, "w") as f:
                f.write(str(left - 1))
            return False

    def note(self, text):
        with self.io, open(os.path.join(self.state, "violations.txt"), "a") as f:
            f.write(text + "\n")

    def check_request(self, req):
        errors = self.api.unmarshal_request(req).errors
        if errors:
            text = "; ".join(f"{e!r}: {getattr(e, '__cause__', '')}" for e in errors)
            self.note(f"request {req.method.upper()} {req.path}: {text}")
            return text
        return ""

    def check_response(self, req, code, body):
        result = self.api.unmarshal_response(req, MockResponse(body, status_code=code))
        if result.errors:
            text = "; ".join(f"{e!r}: {getattr(e, '__cause__', '')}" for e in result.errors)
            self.note(f"response {code} to {req.method.upper()} {req.path}: {text}\n  {body[:2000]!r}")
            return text
        return ""

    def log_request(self, method, path, query, content_type, body, headers):
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        entry = {"method": method.upper(), "path": path, "query": query,
                 "content_type": content_type if body else None, "body": parsed,
                 "authorized": headers.get("Authorization", "").startswith("Bearer ")}
        with self.io, open(os.path.join(self.state, "requests.jsonl"), "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")


def main():
    args = sys.argv[1:]
    scenario_path, state = args[0], args[1]
    tls = None
    lifetime = 300.0
    rest = args[2:]
    while rest:
        if rest[0] == "--tls":
            tls = (rest[1], rest[2])
            rest = rest[3:]
        elif rest[0] == "--lifetime":
            lifetime = float(rest[1])
            rest = rest[2:]
        else:
            sys.exit(f"standin.py: unknown argument {rest[0]}")
    with open(scenario_path) as f:
        scenario = json.load(f)
    srv = Server(scenario, state)
    scheme = "http"
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    port = srv.server_address[1]
    srv.host_url = f"{scheme}://127.0.0.1:{port}"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(os.path.join(state, "port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(state, "port.tmp"), os.path.join(state, "port"))
    started = time.time()
    while time.time() - started < lifetime and not os.path.exists(os.path.join(state, "stop")):
        time.sleep(0.1)
    srv.shutdown()


if __name__ == "__main__":
    main()
