import { createHash, type KeyObject, type webcrypto } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { ExchangeGrants } from './grants.js';
import { TOKEN_ALGORITHMS, type KeyRing, type TokenAlgorithm } from './key-ring.js';

/** Why a token was refused; counted by events_edge_auth_refusals_total{reason}. */
export const AUTH_REFUSAL_REASONS = [
  'missing',
  'malformed',
  'signature',
  'expired',
  'not_yet_valid',
  'issuer',
  'audience',
  'not_granted',
] as const;
export type AuthRefusalReason = (typeof AUTH_REFUSAL_REASONS)[number];

export interface AuthRefusal {
  readonly ok: false;
  readonly reason: AuthRefusalReason;
  /** For the client's terminal `error` event and the log line: never holds the token. */
  readonly message: string;
}

export interface VerifiedToken {
  readonly ok: true;
  readonly grants: ExchangeGrants;
  /** A short hash of (iss, sub), the per-subject limits' key; undefined when the token has no `sub`. */
  readonly subjectKey: string | undefined;
  /** The token's `exp` (ms since the epoch): the stream ends then. Undefined: no `exp`. */
  readonly expiresAt: number | undefined;
}

export interface TokenVerifierOptions {
  readonly keys: KeyRing;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
  /** Tolerance for `nbf` and `iat`. */
  readonly clockSkewSeconds: number;
}

export const refusal = (reason: AuthRefusalReason, message: string): AuthRefusal => ({
  ok: false,
  reason,
  message: `Unauthorized: ${message}`,
});

/**
 * Checks a connect request's JSON Web Token (DESIGN.md §3c): its signature against the key ring
 * (HS256 against the secret only, so a public key is never used as an HMAC secret; RS256/ES256
 * against the JWKS keys with the token's `kid`, or every key of that type when it has none),
 * then `iss`, `aud`, `nbf` (with the clock skew) and `exp` (exactly: the stream ends at it), then
 * the `exchanges` claim's shape. Claims are only looked at once the signature holds.
 */
export class TokenVerifier {
  constructor(private readonly opts: TokenVerifierOptions) {}

  async verify(token: string, now = Date.now()): Promise<VerifiedToken | AuthRefusal> {
    let alg: unknown;
    let kid: unknown;
    try {
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch {
      return refusal('malformed', 'the token is not a JSON Web Token (three base64url parts, a JSON header)');
    }
    if (token.split('.').length !== 3) {
      return refusal('malformed', 'the token is not a signed JSON Web Token (three base64url parts)');
    }
    const accepted = this.opts.keys.algorithms;
    if (typeof alg !== 'string' || !accepted.includes(alg as TokenAlgorithm)) {
      const which = typeof alg === 'string' ? `alg ${JSON.stringify(alg)}` : 'no alg';
      return refusal(
        'signature',
        `the token is signed with ${which}; this server accepts ${accepted.join(', ')}`,
      );
    }
    if (kid !== undefined && typeof kid !== 'string') {
      return refusal('malformed', "the token header's kid must be a string");
    }
    const keys = await this.keysFor(alg as TokenAlgorithm, kid);
    if (keys.length === 0) {
      return refusal('signature', `no ${alg} key of this server has the token's kid ${JSON.stringify(kid)}`);
    }
    let payload: JWTPayload | undefined;
    for (const key of keys) {
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: [alg as TokenAlgorithm],
          issuer: this.opts.issuer,
          audience: this.opts.audience,
          clockTolerance: this.opts.clockSkewSeconds,
          currentDate: new Date(now),
        }));
        break;
      } catch (err) {
        if (err instanceof errors.JWSSignatureVerificationFailed) continue;
        return this.claimRefusal(err);
      }
    }
    if (payload === undefined) {
      return refusal('signature', `the token's signature does not verify with any ${alg} key of this server`);
    }
    const expiresAt = payload.exp === undefined ? undefined : payload.exp * 1000;
    if (expiresAt !== undefined && expiresAt <= now) return expired(expiresAt);
    const grants = ExchangeGrants.fromClaim(payload['exchanges']);
    if (typeof grants === 'string') return refusal('malformed', `the token is malformed: ${grants}`);
    return {
      ok: true,
      grants,
      subjectKey: payload.sub === undefined ? undefined : subjectKey(payload.iss, payload.sub),
      expiresAt,
    };
  }

  private async keysFor(
    alg: TokenAlgorithm,
    kid: string | undefined,
  ): Promise<(KeyObject | webcrypto.CryptoKey)[]> {
    if (alg === 'HS256') return this.opts.keys.secret ? [await this.opts.keys.secret] : [];
    return this.opts.keys.candidates(alg, kid).map((k) => k.key);
  }

  private claimRefusal(err: unknown): AuthRefusal {
    if (err instanceof errors.JWTExpired) {
      const exp = err.payload.exp;
      return typeof exp === 'number' ? expired(exp * 1000) : refusal('expired', 'the token has expired');
    }
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'iss' && err.reason === 'check_failed') {
        return refusal('issuer', `the token's issuer (iss) is not ${JSON.stringify(this.opts.issuer)}`);
      }
      if (err.claim === 'aud' && err.reason === 'check_failed') {
        return refusal(
          'audience',
          `the token's audience (aud) does not include ${JSON.stringify(this.opts.audience)}`,
        );
      }
      if (err.claim === 'nbf' && err.reason === 'check_failed') {
        const nbf = err.payload.nbf;
        const when = typeof nbf === 'number' ? ` before ${new Date(nbf * 1000).toISOString()}` : ' yet';
        return refusal('not_yet_valid', `the token is not valid${when}`);
      }
      return refusal(
        'malformed',
        `the token is malformed: its ${err.claim} claim is ${err.reason.replace('_', ' ')}`,
      );
    }
    if (err instanceof errors.JOSEError) {
      return refusal('malformed', `the token is malformed (${err.code})`);
    }
    return refusal('malformed', 'the token could not be read');
  }
}

const expired = (expiresAt: number): AuthRefusal =>
  refusal('expired', `the token expired at ${new Date(expiresAt).toISOString()}; reconnect with a new token`);

/** The per-subject limit key: (iss, sub) hashed, so no subject is stored in Redis as given. */
export function subjectKey(iss: string | undefined, sub: string): string {
  return createHash('sha256')
    .update(iss ?? '')
    .update('\0')
    .update(sub)
    .digest('base64url')
    .slice(0, 22);
}

export { TOKEN_ALGORITHMS };
