// A real, certified OpenID Provider (the npm package oidc-provider) for the tests: two people
// in two groups, one confidential client. Usage:
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI...
// It prints "ready" once it listens on 127.0.0.1:PORT. Its development login page takes any
// password for the accounts below.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, ...redirectUris] = process.argv.slice(2);
const people = {
  ana: { email: 'ana@example.com', name: 'Ana Billing', groups: ['billing'] },
  bob: { email: 'bob@example.com', name: 'Bob Claims', groups: ['claims'] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false, // the ID token carries email, name and groups
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
  async findAccount(ctx, id) {
    const person = people[id];
    if (!person) return undefined;
    return {
      accountId: id,
      async claims() { return { sub: id, email_verified: true, ...person }; },
    };
  },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => { console.log('ready'); });
