// The one redaction of provider text: known secrets, URL user-info, and credentials no source knows any
// more (a token evicted from its cache while a request still carried it), before the text is cut.
import { describe, expect, it } from "vitest";
import { redact } from "../src/core/errors.js";

const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb2JvdCIsImV4cCI6MTl9.c2lnbmF0dXJlLXZhbHVl";

describe("redact", () => {
  it("removes known secrets, as sent and percent-encoded, longest first", () => {
    expect(redact("pw=s3cr+t/x and s3cr%2Bt%2Fx", ["s3cr+t/x"])).toBe("pw=<redacted> and <redacted>");
  });

  it("removes an Authorization value and a JWT no source still knows", () => {
    expect(redact(`echo: Authorization: Bearer ${JWT}`)).toBe("echo: Authorization: Bearer <redacted>");
    expect(redact(`token ${JWT} expired`)).toBe("token <redacted> expired");
    expect(redact("basic dXNlcjpwYXNzd29yZC12YWx1ZQ== refused")).toBe("basic <redacted> refused");
  });

  it("keeps the words around a scheme that carry no credential", () => {
    expect(redact('Basic authentication failed; WWW-Authenticate: Bearer realm="https://auth.example/token"')).toBe(
      'Basic authentication failed; WWW-Authenticate: Bearer realm="https://auth.example/token"',
    );
  });

  it("cuts only after removing, so no part of a credential survives the cut", () => {
    const text = `${"x".repeat(280)} Bearer ${JWT}`;
    const out = redact(text);
    expect(out).not.toMatch(/eyJ/);
    expect(out.length).toBeLessThanOrEqual(301);
  });
});
