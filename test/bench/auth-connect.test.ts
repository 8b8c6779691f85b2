/**
 * The auth-connect benchmark at toy size against the real services (built dist/): an AUTH_MODE=none
 * installation, an HS256 one and a JWKS one (RS256 and ES256 keys), a small burst of clients with
 * their own pre-signed tokens in the access_token query key to each. Asserts that the scenario runs
 * and reports sane figures (every client ready, none refused, auth really on), not timings.
 */
import { expect } from 'chai';
import {
  authConnectFigures,
  measureAuthConnect,
  type AuthConnectParams,
} from '../../bench/scenarios/auth-connect.js';
import { quickBench } from './quick-bench.js';

describe('bench: auth-connect (quick)', function () {
  this.timeout(30_000);
  const bench = quickBench({ edges: 1, targets: ['edge'] });

  it('gets every client with a valid token ready on each variant, refuses none, and reports the ratio', async () => {
    const p: AuthConnectParams = {
      clients: 40,
      pending: 20,
      rounds: 1,
      warmUpClients: 10,
      jwks: true,
      edges: 1,
      verifySamples: 20,
    };
    const m = await measureAuthConnect(bench(), p);
    expect(m.variants.map((v) => v.variant)).to.deep.equal(['off', 'hs256', 'rs256', 'es256']);
    for (const v of m.variants) {
      expect(v.ready, v.label).to.equal(p.clients);
      expect(v.notReady, `${v.label}: not ready`).to.equal(0);
      expect(v.serverRejected, `${v.label}: refused by the edge`).to.equal(0);
      expect(v.authRefusals, `${v.label}: token refusals`).to.equal(0);
      expect(v.readyTime.count, v.label).to.equal(p.clients);
      expect(v.readyTime.p99Ms, v.label).to.be.above(0);
      expect(v.connectsPerSecond, v.label).to.be.above(0);
      expect(v.edgeCpuUsPerConnect, v.label).to.be.above(0);
      expect(v.edgeMainThreadUsPerConnect, v.label).to.be.above(0);
      expect(v.edgeMainThreadUsPerConnect, v.label).to.be.at.most(v.edgeCpuUsPerConnect);
      if (v.variant === 'off') {
        expect(v.tokenBytes).to.equal(0);
      } else {
        // A JWT in the URL: the C client sent the long request targets whole.
        expect(v.tokenBytes, v.label).to.be.above(100);
        expect(v.urlBytes, v.label).to.be.above(v.tokenBytes);
        expect(v.verify?.concurrent.cpuUs, v.label).to.be.above(0);
        expect(v.verify?.concurrent.mainThreadUs, v.label).to.be.above(0);
      }
    }
    expect(m.variants.find((v) => v.variant === 'rs256')!.tokenBytes).to.be.above(300);
    expect(m.warmUp.every((b) => b.ready === b.clients)).to.equal(true);
    // Auth was on where it should be: a connect without a token was refused there.
    expect(m.enforced.hs256?.refused, m.enforced.hs256?.error).to.equal(true);
    expect(m.enforced.jwks?.refused, m.enforced.jwks?.error).to.equal(true);
    const { figures, checks } = authConnectFigures(m);
    expect(checks.filter((c) => !c.ok)).to.deep.equal([]);
    const ratio = figures.find((f) => f.name === 'HS256 ÷ auth off: connects/s');
    expect(ratio?.edge).to.be.above(0);
  });
});
