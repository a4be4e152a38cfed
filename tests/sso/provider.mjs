// A real OpenID provider for the single sign-on tests: node `oidc-provider` (installed by
// scripts/oidc_deps.sh) on a loopback port, with one confidential client that must use
// PKCE, and accounts read from a JSON file on every request, so a test can change a
// person's claims between two sign-ins.
//
//   node tests/sso/provider.mjs PORT ACCOUNTS.json CLIENT.json
//
// ACCOUNTS.json: {"<login>": {"password": "...", "sub": "<optional>", "disabled": <optional
//                 true>, "claims": {...}}}
// A disabled account cannot sign in, and a session it has already is no longer good for
// anything: asked without a page (prompt=none), the provider answers login_required, as
// providers do for an account an administrator has disabled.
// CLIENT.json:   {"client_id", "client_secret", "redirect_uris", "post_logout_redirect_uris"}
//
// The login page is this file's own plain form (the library's development pages load
// web fonts, and the tests have no internet); consent is granted without a page, as an
// organisation's provider does for its own applications.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [port, accountsFile, clientFile] = process.argv.slice(2);
const checkout = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(checkout, 'var/oidc-provider/package.json'));
const { default: Provider, interactionPolicy } = await import(require.resolve('oidc-provider'));

const accounts = () => JSON.parse(readFileSync(accountsFile, 'utf8'));
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const accountFor = (id) => Object.entries(accounts()).find(([login, a]) => (a.sub || login) === id);

// The library's prompts, and one more reason to ask for a login: the session's account
// has been disabled since (the error given when no page may be shown).
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'account_disabled',
  'The account has been disabled',
  'login_required',
  (ctx) => {
    const { accountId } = ctx.oidc.session;
    if (!accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const entry = accountFor(accountId);
    return !entry || entry[1].disabled
      ? interactionPolicy.Check.REQUEST_PROMPT
      : interactionPolicy.Check.NO_NEED_TO_PROMPT;
  },
));

const issuer = `http://127.0.0.1:${port}`;
const client = JSON.parse(readFileSync(clientFile, 'utf8'));
const provider = new Provider(issuer, {
  clients: [{
    ...client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  cookies: { keys: ['sso-tests-only'] },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const entry = accountFor(id);
    if (!entry || entry[1].disabled) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...entry[1].claims }) };
  },
});

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Test provider</title></head>
<body><h1>Test provider</h1>${body}</body></html>`);
}

function loginForm(res, uid, error = '') {
  page(res, error ? 401 : 200, `${error ? `<p id="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
  <label>Login <input name="login" id="login" autocomplete="off"></label>
  <label>Password <input name="password" id="password" type="password"></label>
  <button type="submit" id="submit">Sign in</button>
</form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'consent') {
    const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action !== 'login' || req.method !== 'POST') return loginForm(res, uid);
  const form = await readForm(req);
  const account = accounts()[form.get('login')];
  if (!account || account.password !== form.get('password')) {
    return loginForm(res, uid, 'Wrong login or password.');
  }
  if (account.disabled) return loginForm(res, uid, 'This account is disabled.');
  const accountId = account.sub || form.get('login');
  return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
http.createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login))?$/.exec(req.url.split('?')[0]);
  if (!match) return callback(req, res);
  interaction(req, res, match[1], match[2]).catch((error) => {
    page(res, 400, `<p id="error">${escape(error.message)}</p>`);
  });
}).listen(Number(port), '127.0.0.1', () => console.log(`listening ${issuer}`));
