// Calls an hmac-gateway RFC 9421 verify route directly, with no sidecar and no
// dependencies: Node 18 or later (fetch and WebCrypto are built in).
//
//   node examples/clients/js/sign_request.mjs http://127.0.0.1:8080/_functions/siteStats
//   node examples/clients/js/sign_request.mjs http://127.0.0.1:8080/_functions/siteStats '{"a":1}'
//
// The key id and secret are the demo's (gateway.yaml); set HMAC_KEYID and HMAC_SECRET_B64 (base64) for your own.
// Prints the status and the body; exits 1 unless it is 2xx.

import { webcrypto as crypto } from "node:crypto"; // a global only from Node 19

const DEMO_SECRET = "QR3Nb/EMvE/G2vE6gfji+V8fkItRAduDBA5yKS2FcikmSOFt6ssWUZhjhURsg/rsUy+uPq5V+cVjEqjqAzbIiw==";
const [url = "http://127.0.0.1:8080/_functions/siteStats", body] = process.argv.slice(2);
const keyid = process.env.HMAC_KEYID ?? "consumer-site-1";
const secret = Buffer.from(process.env.HMAC_SECRET_B64 ?? DEMO_SECRET, "base64");
const base64 = (bytes) => Buffer.from(bytes).toString("base64");
const utf8 = (text) => new TextEncoder().encode(text);

// The components the demo route requires, with the values fetch will send.
const target = new URL(url);
const method = body === undefined ? "GET" : "POST";
const components = [
  ["@method", method],
  ["@authority", target.host],
  ["@path", target.pathname],
  ["@query", target.search || "?"],
];
const headers = {};
if (body !== undefined) {
  // RFC 9530: the body's SHA-256, covered by the signature.
  headers["content-digest"] = `sha-256=:${base64(await crypto.subtle.digest("SHA-256", utf8(body)))}:`;
  components.push(["content-digest", headers["content-digest"]]);
}

// RFC 9421 section 2.5: one line per component, then @signature-params.
// The gateway accepts each (keyid, nonce) once, so every request gets a new one.
const created = Math.floor(Date.now() / 1000);
const nonce = base64(crypto.getRandomValues(new Uint8Array(16)));
const params = `(${components.map(([name]) => `"${name}"`).join(" ")})` +
  `;created=${created};keyid="${keyid}";nonce="${nonce}";alg="hmac-sha256"`;
const signatureBase = [...components.map(([name, value]) => `"${name}": ${value}`), `"@signature-params": ${params}`];
const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
const mac = await crypto.subtle.sign("HMAC", key, utf8(signatureBase.join("\n")));
headers["signature-input"] = `sig1=${params}`;
headers["signature"] = `sig1=:${base64(mac)}:`;

const response = await fetch(target, { method, headers, body });
console.log(response.status);
console.log(await response.text());
process.exitCode = response.ok ? 0 : 1;
