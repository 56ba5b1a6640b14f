// Independent GitHub webhook signer/verifier for tests/it/webhooks.rs, using
// GitHub's own @octokit/webhooks-methods. Reads {"mode", "secret", "body_b64",
// "signature"} on stdin; "sign" prints the X-Hub-Signature-256 value,
// "verify" exits 0 when it verifies and 1 when it does not.
import { sign, verify } from "@octokit/webhooks-methods";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const spec = JSON.parse(input);
const body = Buffer.from(spec.body_b64 ?? "", "base64").toString("utf8");
if (spec.mode === "sign") {
  console.log(await sign(spec.secret, body));
} else {
  const ok = await verify(spec.secret, body, spec.signature);
  console.log(ok ? "verified" : "rejected");
  process.exit(ok ? 0 : 1);
}
