// The GraphQL-over-HTTP conformance audit of the npm `graphql-http` package, run against a
// live Rapport: `node tests/clients/audit.mjs http://127.0.0.1:PORT/graphql`.
// Prints one JSON array on stdout, one entry per audit: {id, name, status, reason?, httpStatus?,
// contentType?}; tests/test_graphql_over_http.py reads it.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}

const results = await auditServer({ url });
const report = results.map((result) => {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    if (result.response) {
      entry.httpStatus = result.response.status;
      entry.contentType = result.response.headers.get('content-type');
    }
  }
  return entry;
});
process.stdout.write(JSON.stringify(report));
