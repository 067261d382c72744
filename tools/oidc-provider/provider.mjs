// A real OpenID provider for Citadel's tests: panva/oidc-provider (an
// OpenID-certified implementation) on 127.0.0.1 with three test citizens
// and one confidential client. It prints `{"issuer": …}` once it listens.
// Tests switch how the token endpoint misbehaves (POST /__test/mode) to
// check every refusal with a token the real provider issued, re-signed.
//
//   node provider.mjs   (env: CLIENT_ID, CLIENT_SECRET; optional PORT)
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const CLIENT_ID = process.env.CLIENT_ID ?? 'citadel';
const CLIENT_SECRET = process.env.CLIENT_SECRET ?? 'citadel-test-secret-0123456789abcdef';

// The citizens this provider knows: login name → claims. Roles come as
// "unit:role" strings in a custom claim, as a city's SSO would send them.
const CITIZENS = {
  lan: {
    name: 'Nguyễn Thị Lan (OIDC)',
    birthdate: '1990-04-12',
    phone_number: '+84905111222',
    address: { formatted: '12 Lê Lợi, Phú Hội, Huế' },
    national_id: '046190000123',
    citadel_roles: [],
  },
  khang: {
    name: 'Trần Minh Khang (OIDC)',
    birthdate: '1985-09-30',
    phone_number: '+84905333444',
    address: { formatted: '7 Đinh Tiên Hoàng, Thuận Hòa, Huế' },
    national_id: '046185000456',
    citadel_roles: ['phuong-phu-hoi:staff'],
  },
  // Signs in with only a subject: no name, no phone.
  anonymous: {},
};

function privateKey(kid) {
  const { privateKey: key } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...key.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}
const publicOf = ({ d, p, q, dp, dq, qi, ...rest }) => rest;

// The provider's own signing key, a key it may rotate to, and one nobody
// publishes.
const signing = privateKey('k1');
const next = privateKey('k2');
const rogue = privateKey('rogue');
let published = [publicOf(signing)];
let mode = 'honest';

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    // A native client on loopback: the provider accepts its redirects on any
    // port (RFC 8252), so tests need not know the host's port in advance.
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1/auth/oidc/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signing] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'birthdate'],
    phone: ['phone_number'],
    address: ['address'],
    citadel: ['national_id', 'citadel_roles'],
  },
  scopes: ['openid', 'profile', 'phone', 'address', 'citadel'],
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  cookies: { keys: ['citadel-test-oidc-cookie-key'] },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(CITIZENS, id)) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...CITIZENS[id] }) };
  },
  // The city's own SSO: citizens are not asked to approve Citadel again.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile phone address citadel');
    await grant.save();
    return grant;
  },
});

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString() || '{}');
}

async function resign(idToken) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = signing;
  switch (mode) {
    case 'unknown-key': key = rogue; break;
    case 'wrong-audience': claims.aud = 'someone-else'; break;
    case 'expired': claims.iat = now - 1200; claims.exp = now - 600; break;
    case 'other-issuer': claims.iss = 'http://127.0.0.1:1/not-the-issuer'; break;
    case 'rotated': key = next; break;
    default: return idToken;
  }
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .sign(await jose.importJWK(key, 'RS256'));
}

provider.use(async (ctx, nextMiddleware) => {
  if (ctx.path === '/__test/mode' && ctx.method === 'POST') {
    ({ mode } = await readJson(ctx.req));
    // Rotation: the provider publishes its next key beside the old one.
    published = mode === 'rotated' ? [publicOf(signing), publicOf(next)] : [publicOf(signing)];
    ctx.body = { mode };
    return;
  }
  if (ctx.path === '/jwks') {
    ctx.type = 'application/jwk-set+json';
    ctx.body = { keys: published };
    return;
  }
  await nextMiddleware();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
    ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token) };
  }
});

provider.on('server_error', (ctx, error) => console.error('server_error', ctx.path, error));
server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
