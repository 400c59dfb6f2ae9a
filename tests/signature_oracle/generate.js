// The signature oracle's cases: requests signed by Twilio's own helper library
// (npm `twilio`, the version pinned in package-lock.json), written as JSON to
// stdout for the C++ checker (check.cpp), which runs each one through our
// validator and through the real server.
//
// Each case is a request as Twilio would send it to a server whose
// PUBLIC_URL is `public_url`: `method`, `target` (path and query exactly as
// sent), `body` (a POST's form body, as sent), `signature` (the
// X-Twilio-Signature header), and what must happen: `expect` is "accept" or
// "refuse". `url` is what the server validates (public_url + target) and
// `params` the form parameters it decodes from the body. For accepted
// webhooks, `forwarded` lists the call fields (From, To, CallSid) the TwiML
// must carry, decoded here by URLSearchParams. `library_verdict` is what the
// library's own validateRequest() says of the same request: it must agree
// with `expect`, or the case says why not (`library_differs`).
//
// Every signature comes from twilio.getExpectedTwilioSignature(authToken,
// url, params), the function Twilio's docs and the issue name.
"use strict";

const twilio = require("twilio");

const token = "9f0c3b5d7e1a2468ace0bd13579f2468";
const otherToken = "9f0c3b5d7e1a2468ace0bd13579f2469";
const origin = "https://bridge.example.com";
const devOrigin = "http://localhost:8080";

// One realistic Twilio voice webhook: the fields Twilio sends for an incoming
// call, in the order it sends them.
const callFields = [
  ["AccountSid", "AC0123456789abcdef0123456789abcdef"],
  ["ApiVersion", "2010-04-01"],
  ["CallSid", "CA5f0e1d2c3b4a59687f8e9d0c1b2a3948"],
  ["CallStatus", "ringing"],
  ["Called", "+15005550006"],
  ["CalledCity", "SAN FRANCISCO"],
  ["CalledCountry", "US"],
  ["CalledState", "CA"],
  ["Caller", "+14155550100"],
  ["CallerCity", "SAN FRANCISCO"],
  ["CallerName", "Jane Doe"],
  ["Direction", "inbound"],
  ["From", "+14155550100"],
  ["FromCity", "SAN FRANCISCO"],
  ["FromCountry", "US"],
  ["FromZip", "94105"],
  ["To", "+15005550006"],
  ["ToCountry", "US"],
];

/// Form-encodes pairs the way Twilio and browsers do: space as '+', '+' as %2B.
function formEncode(pairs) {
  return new URLSearchParams(pairs).toString();
}

/// The params object twilio-node takes: repeated names become arrays.
function paramsObject(pairs) {
  const o = {};
  for (const [k, v] of pairs) {
    if (!(k in o)) o[k] = v;
    else if (Array.isArray(o[k])) o[k].push(v);
    else o[k] = [o[k], v];
  }
  return o;
}

function forwardedOf(pairs) {
  return pairs.filter(([k]) => k === "From" || k === "To" || k === "CallSid");
}

function queryPairs(target) {
  const q = target.indexOf("?");
  return q < 0 ? [] : [...new URLSearchParams(target.slice(q + 1))];
}

const cases = [];

/// A signed request. `signedUrl` defaults to the URL the server sees; `sign`
/// overrides what is signed (token, URL, params) to build altered requests.
function add(c) {
  const publicUrl = c.public_url || origin;
  // What the server validates: for a stream, the wss:// stream URL.
  const url = (c.kind === "stream" ? publicUrl.replace(/^http/, "ws") : publicUrl) + c.target;
  const method = c.method;
  const pairs = method === "POST" ? c.pairs || [] : [];
  const sign = c.sign || {};
  const signedUrl = sign.url || c.signedUrl || url;
  const signedPairs = sign.pairs || pairs;
  const signedToken = sign.token || token;
  const signature =
      c.kind === "stream"
          ? twilio.getExpectedTwilioSignature(signedToken, signedUrl, {})
          : twilio.getExpectedTwilioSignature(signedToken, signedUrl, paramsObject(signedPairs));
  const params = paramsObject(pairs);
  const out = {
    name: c.name,
    kind: c.kind || "webhook",
    method: c.kind === "stream" ? "GET" : method,
    public_url: publicUrl,
    target: c.target,
    url,
    signed_url: signedUrl,
    params: pairs,
    body: method === "POST" ? c.body !== undefined ? c.body : formEncode(pairs) : "",
    token,
    signature,
    expect: c.expect,
    library_verdict: twilio.validateRequest(token, signature, url, c.kind === "stream" ? {} : params),
  };
  // The library's own validateRequest() must agree, except where a case
  // says why not.
  if (out.library_verdict !== (c.expect === "accept")) {
    if (!c.library_differs || c.expect !== "accept")
      throw new Error(`twilio.validateRequest() says ${out.library_verdict} to "${c.name}"`);
    out.library_differs = c.library_differs;
  }
  if (c.expect === "accept" && out.kind === "webhook")
    out.forwarded = forwardedOf(method === "POST" ? pairs : queryPairs(c.target));
  cases.push(out);
}

/// A correct request, and three altered ones: signed with another token, the
/// URL changed after signing, a parameter changed after signing.
function addWithAlterations(c) {
  add({...c, expect: "accept"});
  add({...c, name: c.name + " / signed with another token", expect: "refuse", sign: {token: otherToken}});
  if (c.kind === "stream") {
    const base = c.signedUrl || "wss://bridge.example.com" + c.target;
    add({...c, name: c.name + " / URL changed: another path was signed", expect: "refuse",
         sign: {url: base.replace("/media-stream", "/media-streams")}});
    add({...c, name: c.name + " / URL changed: another host was signed", expect: "refuse",
         sign: {url: base.replace("bridge.", "other.")}});
    return;
  }
  const signedUrl = c.signedUrl || (c.public_url || origin) + c.target;
  // The URL changed: an extra argument in the request, not in what was signed.
  add({...c, name: c.name + " / URL changed: an argument added", expect: "refuse",
       target: c.target + (c.target.includes("?") ? "&" : "?") + "Extra=1", signedUrl});
  if (c.method === "GET") {
    // A parameter changed: one digit of From in the query.
    const changed = c.target.replace("4155550100", "4155550101");
    if (changed === c.target) throw new Error("no From to change in " + c.name);
    add({...c, name: c.name + " / parameter changed: From", expect: "refuse", target: changed, signedUrl});
  } else {
    const pairs = c.pairs.map(([k, v]) => [k, k === "From" ? v.replace("4155550100", "4155550101") : v]);
    add({...c, name: c.name + " / parameter changed: From", expect: "refuse", pairs, body: undefined,
         sign: {pairs: c.pairs}});
  }
}

// --- GET webhooks: the parameters are in the query; the whole URL is signed.
const getQuery = formEncode(callFields);  // From=%2B14155550100 ... CallerName=Jane+Doe
addWithAlterations({name: "GET: a full voice webhook (From=%2B…, CallerName=Jane+Doe)", method: "GET",
                    target: "/incoming-call?" + getQuery});
addWithAlterations({name: "GET: the issue's query, From=%2B14155550100&CallerName=Jane+Doe", method: "GET",
                    target: "/incoming-call?From=%2B14155550100&CallerName=Jane+Doe"});
addWithAlterations({name: "GET: spaces as %20, lowercase escapes (%2b)", method: "GET",
                    target: "/incoming-call?From=%2b14155550100&To=%2B15005550006&CallerName=Jane%20Doe"});
addWithAlterations({name: "GET: & and = inside values (%26, %3D), a ';'", method: "GET",
                    target: "/incoming-call?CallerName=Smith%20%26%20Sons%3Dok&Note=a;b&From=%2B14155550100"});
addWithAlterations({name: "GET: UTF-8 values (é, ñ, 日本, an emoji)", method: "GET",
                    target: "/incoming-call?From=%2B14155550100&CallerName=Jos%C3%A9+Mu%C3%B1oz" +
                        "&CallerCity=%E6%97%A5%E6%9C%AC&Note=%F0%9F%93%9E"});
addWithAlterations({name: "GET: repeated keys and empty values", method: "GET",
                    target: "/incoming-call?Digits=1&Digits=2&Digits=1&CallerName=&Flag&From=%2B14155550100"});
addWithAlterations({name: "GET: characters sent unencoded ('!*()~)", method: "GET",
                    target: "/incoming-call?CallerName=O'Brien!*(x)~y&From=%2B14155550100"});
addWithAlterations({name: "GET: our own query before Twilio's (tenant=acme%20corp)", method: "GET",
                    target: "/incoming-call?tenant=acme%20corp&" + getQuery});
addWithAlterations({name: "GET: signed with :443 (Twilio's https port), requested without", method: "GET",
                    target: "/incoming-call?" + getQuery,
                    signedUrl: "https://bridge.example.com:443/incoming-call?" + getQuery});
addWithAlterations({name: "GET: http origin on port 8080, signed with the port", method: "GET",
                    public_url: devOrigin, target: "/incoming-call?" + getQuery});

// --- POST webhooks: the form parameters are signed after the URL, sorted.
addWithAlterations({name: "POST: a full voice webhook", method: "POST", target: "/incoming-call", pairs: callFields});
addWithAlterations({name: "POST: with a query string in the URL", method: "POST",
                    target: "/incoming-call?tenant=acme%20corp&x=1", pairs: callFields});
addWithAlterations({name: "POST: '+', spaces, & and = in values", method: "POST", target: "/incoming-call",
                    pairs: [["From", "+14155550100"], ["CallerName", "Smith & Sons=ok"], ["Note", "a+b c"],
                            ["To", "+15005550006"]]});
addWithAlterations({name: "POST: UTF-8 values", method: "POST", target: "/incoming-call",
                    pairs: [["From", "+14155550100"], ["CallerName", "José Muñoz"], ["CallerCity", "日本"],
                            ["Note", "📞"]]});
addWithAlterations({name: "POST: repeated keys and empty values", method: "POST", target: "/incoming-call",
                    pairs: [["Digits", "5678"], ["Digits", "1234"], ["Digits", "1234"], ["CallerName", ""],
                            ["From", "+14155550100"]]});
addWithAlterations({name: "POST: body with %20 for spaces (the encoding is not signed)", method: "POST",
                    target: "/incoming-call", pairs: callFields,
                    body: callFields.map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&")});
addWithAlterations({name: "POST: signed with :443, requested without", method: "POST", target: "/incoming-call",
                    pairs: callFields, signedUrl: "https://bridge.example.com:443/incoming-call"});

// --- the Media Stream upgrade: the wss:// stream URL, no parameters.
addWithAlterations({name: "stream upgrade: wss://…/media-stream", kind: "stream", target: "/media-stream"});
// validateRequest() tries neither: Twilio's security page tells its users to
// append the '/' themselves for WebSocket handshakes, and the library adds
// :443 only to https:// URLs (:80 to any other scheme, wss:// included).
const slash = "the library leaves the trailing '/' to its caller (Twilio's security page: try appending it)";
const port = "the library adds :443 only to https:// URLs, never to wss://";
addWithAlterations({name: "stream upgrade: signed with a trailing slash", kind: "stream", target: "/media-stream",
                    signedUrl: "wss://bridge.example.com/media-stream/", library_differs: slash});
addWithAlterations({name: "stream upgrade: signed with :443", kind: "stream", target: "/media-stream",
                    signedUrl: "wss://bridge.example.com:443/media-stream", library_differs: port});
addWithAlterations({name: "stream upgrade: signed with :443 and a trailing slash", kind: "stream",
                    target: "/media-stream", signedUrl: "wss://bridge.example.com:443/media-stream/",
                    library_differs: slash + "; " + port});

// --- the same values encoded differently are a different URL: Twilio signs
// what it sent. (validateRequest() also tries the query re-encoded by Node's
// legacy querystring module, so a URL signed with Jane%20Doe validates there
// when Jane+Doe was sent; our validator does not, and no such case is here.)
const sent = "/incoming-call?From=%2B14155550100&CallerName=Jane+Doe";
add({name: "refused: signed with From=+14155550100 (decoded), sent with %2B", method: "GET", target: sent,
     expect: "refuse", sign: {url: origin + sent.replace("%2B", "+")}});
add({name: "refused: signed with %2b, sent with %2B", method: "GET", target: sent, expect: "refuse",
     sign: {url: origin + sent.replace("%2B", "%2b")}});
add({name: "refused: GET signed with its query as POST parameters", method: "GET", target: sent, expect: "refuse",
     sign: {url: origin + "/incoming-call", pairs: [["From", "+14155550100"], ["CallerName", "Jane Doe"]]}});
add({name: "refused: signed over http://, PUBLIC_URL is https://", method: "GET", target: sent, expect: "refuse",
     sign: {url: "http://bridge.example.com" + sent}});
add({name: "refused: stream signed over https:// instead of wss://", kind: "stream", target: "/media-stream",
     expect: "refuse", sign: {url: "https://bridge.example.com/media-stream"}});
add({name: "refused: POST signed without its query string", method: "POST", target: "/incoming-call?tenant=acme",
     pairs: callFields, expect: "refuse", sign: {url: origin + "/incoming-call"}});

process.stdout.write(JSON.stringify({library: "twilio@" + require("twilio/package.json").version,
                                     node: process.version, cases}, null, 1) + "\n");
