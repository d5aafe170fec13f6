// Validates the CRD objects in rendered chart output (files given as arguments) with the
// @kubernetes-models packages' JSON schemas: ScaledObject, TriggerAuthentication,
// ServiceMonitor, PodMonitor, PrometheusRule. Prints one line per object; exits 1 on any error
// or when a file holds none of them while the caller said it must (--expect KIND,...).
// The model packages are ES modules (NODE_PATH does not reach import), so they are imported by
// file from the lane's node_modules ($NODE_PATH).
const fs = require("fs");
const path = require("path");
const { pathToFileURL } = require("url");
const YAML = require("yaml");

const lib = (p) => import(pathToFileURL(path.join(process.env.NODE_PATH, p)).href);

async function main() {
const keda = await lib("@kubernetes-models/keda/keda.sh/v1alpha1/index.mjs");
const mon = await lib("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js");
const models = {
  ScaledObject: keda.ScaledObject,
  TriggerAuthentication: keda.TriggerAuthentication,
  ServiceMonitor: mon.ServiceMonitor,
  PodMonitor: mon.PodMonitor,
  PrometheusRule: mon.PrometheusRule,
};
const args = process.argv.slice(2);
let expect = [];
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--expect") expect = args[++i].split(",").filter(Boolean);
  else files.push(args[i]);
}
let failed = false;
for (const file of files) {
  const seen = new Set();
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))) {
    const obj = doc.toJSON();
    if (!obj || !models[obj.kind]) continue;
    seen.add(obj.kind);
    try {
      new models[obj.kind](obj).validate();
    } catch (e) {
      failed = true;
      console.log(`${file}: ${obj.kind}/${obj.metadata.name}: ${e.message}`);
    }
  }
  for (const kind of expect) {
    if (!seen.has(kind)) {
      failed = true;
      console.log(`${file}: no ${kind} rendered`);
    }
  }
}
process.exit(failed ? 1 : 0);
}
main().catch((e) => {
  console.log(`validate-crds: ${e.message}`);
  process.exit(1);
});
