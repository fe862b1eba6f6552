// @vitest-environment node
// The committed API types are what openapi-typescript makes of the committed OpenAPI document (which
// tests/test_openapi_generated.py holds to the gateway's code): together, the UI cannot drift from the API.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";
import { expect, test } from "vitest";

test("schema.d.ts is generated from openapi.json (else run `npm run gen:api`)", async () => {
  const document = new URL("../api/openapi.json", import.meta.url);
  const generated = astToString(await openapiTS(document));
  const committed = readFileSync(fileURLToPath(new URL("../api/schema.d.ts", import.meta.url)), "utf8");
  const body = committed.replace(/^\/\*\*[\s\S]*?\*\/\s*/, "");
  expect(body).toBe(generated);
}, 30_000);
