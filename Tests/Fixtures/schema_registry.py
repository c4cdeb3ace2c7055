"""The read API of a Confluent Schema Registry (and its register call), served from files, for tests.

A real Schema Registry (a JVM service) cannot be installed on the test machines; this serves the same HTTP calls
from a directory, so the client under test speaks real HTTP to it:

  GET  /schemas/ids/{id}                  {"schema": ..., "schemaType": ...}   (404, error_code 40403, if unknown)
  GET  /schemas/ids/{id}/versions         [{"subject": ..., "version": ...}]
  GET  /subjects/{subject}/versions/latest {"subject", "version", "id", "schema"}
  POST /subjects/{subject}/versions       {"schema": ..., "schemaType"?: ...} -> {"id": ...}

Each schema is DIR/{id}.json: {"schema", "schemaType", "subject", "version"}. Deleting a file makes its id
unknown. With REGISTRY_USER and REGISTRY_PASSWORD set, every call needs that basic authentication (401 otherwise).

  schema_registry.py DIR [PORT [PORT_FILE]]   prints "listening on PORT" once it listens (PORT 0 or absent: any
                                               free port), and writes the port to PORT_FILE when given
"""
import base64
import http.server
import json
import os
import signal
import sys
import urllib.parse

DIRECTORY = sys.argv[1]
USER, PASSWORD = os.environ.get("REGISTRY_USER"), os.environ.get("REGISTRY_PASSWORD")


def schemas():
    found = {}
    for name in os.listdir(DIRECTORY):
        if name.endswith(".json"):
            with open(os.path.join(DIRECTORY, name)) as file:
                found[int(name[:-5])] = json.load(file)
    return found


class Registry(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorised(self):
        if USER is None:
            return True
        expected = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self.answer(401, {"error_code": 401, "message": "Unauthorized"})
        return False

    def do_GET(self):
        if not self.authorised():
            return
        parts = [urllib.parse.unquote(part) for part in self.path.strip("/").split("/")]
        known = schemas()
        if parts[:2] == ["schemas", "ids"] and len(parts) in (3, 4):
            entry = known.get(int(parts[2]))
            if entry is None:
                return self.answer(404, {"error_code": 40403, "message": "Schema %s not found" % parts[2]})
            if len(parts) == 4 and parts[3] == "versions":
                return self.answer(200, [{"subject": entry["subject"], "version": entry["version"]}])
            body = {"schema": entry["schema"]}
            if entry.get("schemaType", "AVRO") != "AVRO":
                body["schemaType"] = entry["schemaType"]
            return self.answer(200, body)
        if parts[0] == "subjects" and parts[2:] == ["versions", "latest"]:
            versions = [(e["version"], i, e) for i, e in known.items() if e["subject"] == parts[1]]
            if not versions:
                return self.answer(404, {"error_code": 40401, "message": "Subject '%s' not found." % parts[1]})
            version, schema_id, entry = max(versions)
            return self.answer(200, {"subject": parts[1], "version": version, "id": schema_id, "schema": entry["schema"]})
        self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    def do_POST(self):
        if not self.authorised():
            return
        parts = [urllib.parse.unquote(part) for part in self.path.strip("/").split("/")]
        if parts[0] != "subjects" or parts[2:] != ["versions"]:
            return self.answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        kind = request.get("schemaType", "AVRO")
        known = schemas()
        for schema_id, entry in known.items():
            if entry["schema"] == request["schema"] and entry.get("schemaType", "AVRO") == kind:
                return self.answer(200, {"id": schema_id})
        schema_id = max(known, default=0) + 1
        version = 1 + sum(1 for entry in known.values() if entry["subject"] == parts[1])
        entry = {"schema": request["schema"], "schemaType": kind, "subject": parts[1], "version": version}
        with open(os.path.join(DIRECTORY, "%d.json" % schema_id), "w") as file:
            json.dump(entry, file)
        self.answer(200, {"id": schema_id})

    def log_message(self, *arguments):
        pass


if __name__ == "__main__":
    # SIGTERM ends it even when the parent ignored or blocked SIGTERM (both are inherited across exec; the test
    # runner's threads block it).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 0), Registry)
    print("listening on %d" % server.server_address[1], flush=True)
    if len(sys.argv) > 3:
        with open(sys.argv[3] + ".tmp", "w") as file:
            file.write("%d\n" % server.server_address[1])
        os.rename(sys.argv[3] + ".tmp", sys.argv[3])
    server.serve_forever()
